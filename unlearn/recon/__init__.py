"""Reconstruction unlearning: forgetting a group (organ, site) from an MRI reconstruction model (seed 000).

The methods register in the one unlearning registry with task="reconstruction"; each is a function
(model, ReconTask) -> model; all but SSD are passes of unlearn.task.optimise, the loop a classifier's methods run,
over the batch losses of recon/task.py.
"""
from . import ft, ga, ga_ft, ga_l1, ga_l1_ft, nl, nl_ft, retrain, ssd, workflow  # noqa: F401  (the methods, families)
