"""Shared helpers: errors, files, checkpoints, devices, loops, metrics and plots."""
