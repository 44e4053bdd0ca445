"""The architectures each family trains, its default first (the registry in models/ builds them; classification also
takes any torchvision classifier by name). Standard library only: arg_parser builds --help from it without torch."""

ARCHS = {"classification": ("resnet18", "resnet34", "resnet50", "smallcnn"), "reconstruction": ("unet", "varnet")}


def default_arch(task: str) -> str:
    """The architecture a task trains when --arch is not given."""
    return ARCHS[task][0]
