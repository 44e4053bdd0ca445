"""The training and evaluation engine: the loops every family shares (train_loop), and each family's driver on top of
them (training: classification; recon*: reconstruction; federated*: federated reconstruction). It sits above
datasets/ and models/, below unlearn/ and the scripts; utils/ below it all holds only infrastructure."""
