"""Reconstruction networks, as fastMRI's: the U-Net (unet.py) and the end-to-end VarNet (varnet.py)."""
