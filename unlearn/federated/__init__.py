"""Unlearning a site from a federated reconstruction model (seed 004 + FedEraser, Halimi et al.'s PGA).

The methods register in the one unlearning registry with task="federated"; each is a function
(model, ReconTask) -> model that uses the federation and local-training recipe stored in the checkpoint.
"""
from . import federaser, fl_ft, fl_retrain, pga  # noqa: F401  (register the methods)
