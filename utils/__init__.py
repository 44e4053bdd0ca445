"""Infrastructure only: errors, the command-line parser, files and paths, the checkpoint file format, devices,
metrics, tables, plots and the report scripts. It imports nothing from datasets/, models/, engine/, unlearn/ or
arg_parser (tests/test_layout.py checks)."""
