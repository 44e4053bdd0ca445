"""MRI data in fastMRI's layout: volumes and slice datasets (data.py), typed samples (samples.py), the FFT and crop
transforms (transforms.py), under-sampling masks (subsample.py) and phantom volumes for tests (phantoms.py)."""
