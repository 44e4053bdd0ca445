"""Reconstruction unlearning: forgetting a group (organ, site) from an MRI reconstruction model (seed 000).

The methods register in the one unlearning registry with task="reconstruction"; each is a function
(model, ReconTask) -> model, and all but SSD and retrain run `task.unlearn_loop`.
"""
from . import ft, ga, ga_ft, ga_l1, ga_l1_ft, nl, nl_ft, retrain, ssd, workflow  # noqa: F401  (the methods, families)
