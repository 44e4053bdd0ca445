"""The one place that answers "which family is this run in?", from the flags or from a checkpoint's meta. The
families themselves (what each one does for every script) are registered in unlearn/families.py. Standard library
only: arg_parser reads it to give each family's defaults without importing torch."""
import argparse

CLASSIFICATION, RECONSTRUCTION, FEDERATED = "classification", "reconstruction", "federated"
FAMILIES = (CLASSIFICATION, RECONSTRUCTION, FEDERATED)

# flags whose default depends on the family: each family's own recipe (federated: FL-MRCM's)
# (memory_format: channels-last trains ResNet-18 1.1-1.3x and the small CNN 1.5-1.9x faster on CPU, a U-Net 0.8x;
# bench/bench_train_step.py)
_RECONSTRUCTION_DEFAULTS = {"batch_size": 8, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0,
                            "memory_format": "contiguous"}
FAMILY_DEFAULTS = {
    CLASSIFICATION: {"batch_size": 50, "lr": 0.01, "optimizer": "sgd", "weight_decay": 5e-4,
                     "memory_format": "channels_last"},
    RECONSTRUCTION: _RECONSTRUCTION_DEFAULTS,
    FEDERATED: {**_RECONSTRUCTION_DEFAULTS, "lr": 1e-4, "optimizer": "rmsprop"},
}

# what an unlearning method of each family gets beyond the knobs it registers: the batch size shown for it when it
# registers none (every reconstruction method registers its own), and whether it takes the batch and optimiser flags
# at all (a federated method trains with its federation's recipe)
METHOD_BASE_BATCH = {CLASSIFICATION: 100, RECONSTRUCTION: None, FEDERATED: None}
METHOD_TAKES_RECIPE_FLAGS = {CLASSIFICATION: True, RECONSTRUCTION: True, FEDERATED: False}


# flags that only one kind of data reads: MRI volumes (--train_groups, --sites; the federated flags included) or
# labelled images (--dataset); given for the other kind they would do nothing, so they are refused
MRI_ONLY_FLAGS = frozenset({
    "sequence", "challenge", "sample_rate", "resolution", "mask_type", "accelerations", "center_fractions", "cache_mb",
    "chans", "num_pool_layers", "num_cascades", "sens_chans", "sens_pools", "loss", "federated", "num_users",
    "local_ep", "local_bs", "fedavg_weights", "lr_step", "adv_weight", "unlearn_interval", "continues",
    "train_dataset", "test_dataset"})
IMAGE_ONLY_FLAGS = frozenset({"size", "download", "no_aug", "imagenet_arch", "dataset_method", "forget_set_size",
                              "patch_size", "poison_target", "confused_classes", "class_to_forget",
                              "num_indexes_to_replace", "indexes_to_replace", "deletion_size"})


def misplaced_flag(args: argparse.Namespace) -> str | None:
    """The first flag given on the command line that the run's kind of data does not read, with what it is for; None
    when every given flag fits."""
    mri = data_family(args) == RECONSTRUCTION
    for flag in sorted(getattr(args, "given", ())):
        if not mri and flag in MRI_ONLY_FLAGS:
            return (f"--{flag} is for MRI reconstruction (--train_groups or --sites); this run is image "
                    f"classification (--dataset {getattr(args, 'dataset', None)}): drop it")
        if mri and flag in IMAGE_ONLY_FLAGS:
            return (f"--{flag} is for image classification (--dataset); this run is MRI reconstruction "
                    f"(--train_groups or --sites): drop it")
    return None


def data_family(args: argparse.Namespace) -> str:
    """The family of the data the flags name: MRI volumes when groups (--train_groups) or sites (--sites) are named,
    else images with labels."""
    return RECONSTRUCTION if getattr(args, "train_groups", None) or getattr(args, "sites", None) else CLASSIFICATION


def family_from_flags(args: argparse.Namespace) -> str:
    """The family a run's flags start: federated with --federated (training) or --forget_site (unlearning a site),
    else the family of the data."""
    if getattr(args, "federated", None) or getattr(args, "forget_site", None):
        return FEDERATED
    return data_family(args)


def family_from_meta(meta: dict) -> str:
    """The family of a checkpoint: federated when it was trained across sites, reconstruction for the other MRI
    models, else classification."""
    if meta.get("federated"):
        return FEDERATED
    return RECONSTRUCTION if meta.get("task") == RECONSTRUCTION else CLASSIFICATION
