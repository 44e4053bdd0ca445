"""Every hyper-parameter an unlearning method may declare in @register, with the flag that sets it, the flag's type and
its help. arg_parser.py generates the unlearning flags from this table (reading this file without importing torch or
the package), and unlearn.register refuses a knob that is not here. Standard library only."""
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Knob:
    flag: str                            # the command-line flag, without --
    kind: str                            # argument type: int, positive_int, non_negative_int, positive_float, ...
    help: str = ""                       # what the knob does (each method's default is added to the help)
    choices: tuple[str, ...] | None = None

    @property
    def type(self) -> Callable[[str], Any]:
        """The flag's argparse type: int, str, or a checked type of utils.cli (positive_int, share_float, ...)."""
        from utils import cli
        return {"int": int, "str": str}.get(self.kind) or getattr(cli, self.kind)


@dataclass(frozen=True)
class Range:
    """Where main_tune.py searches a knob: low..high, log-uniform when `log`, whole numbers when `integer`."""
    low: float
    high: float
    log: bool = False
    integer: bool = False


# the ranges methods declare in @register(search=...), from the papers' own sweeps (SalUn's lr grids, SSD's α and λ)
EPOCHS = Range(1, 10, integer=True)
LR_SGD = Range(1e-3, 1e-1, log=True)      # SalUn's FT / RL grid 0.01-0.1, down to 1e-3
LR_ASCENT = Range(1e-5, 1e-2, log=True)   # SalUn's GA grid 1e-5-1e-3, and beyond
LR_ADAM = Range(1e-5, 1e-2, log=True)
L1_LAMBDA = Range(1e-6, 1e-2, log=True)  # GA_l1's weight of ‖θ‖₁ (Erase to Enhance: 1e-4), two decades each way
NOISE_LAMBDA = Range(0.1, 10.0, log=True)  # NL's noise, times the volume's max (--noise_scale max)

KNOBS: dict[str, Knob] = {
    "epochs": Knob("unlearn_epochs", "positive_int",
                   "methods that train (SSD, ASSD, wfisher and federaser train no epochs and refuse it)"),
    "lr": Knob("unlearn_lr", "positive_float"),
    "batch_size": Knob("unlearn_batch_size", "positive_int"),
    "optimizer": Knob("unlearn_optimizer", "str", choices=("sgd", "adam")),
    "alpha": Knob("alpha", "non_negative_float", "FT_prune l1 weight, wfisher step, SCRUB KL weight"),
    "beta": Knob("beta", "non_negative_float", "NegGrad+ weight of the forget loss"),
    "msteps": Knob("msteps", "non_negative_int",
                   "SCRUB: epochs with a max-step (optimisation steps with --scrub_variant corrective)"),
    "kd_T": Knob("kd_T", "positive_float", "distillation temperature (SCRUB, BadT)"),
    "retain_share": Knob("bad_teacher_retain_share", "share_float",
                         "BadT: share of the retain rows distilled from the good teacher beside the forget rows"),
    "ssd_alpha": Knob("SSDselectwt", "positive_float", "SSD selection weight alpha (ASSD sets its own)"),
    "ssd_lambda": Knob("SSDdampening", "positive_float", "SSD and ASSD dampening lambda"),
    "samples": Knob("wfisher_samples", "positive_int", "wfisher: per-sample gradients in the Woodbury Fisher"),
    "damping": Knob("wfisher_damping", "positive_float", "wfisher: damping added to the Fisher"),
    "k": Knob("k", "int", "EU / CF: re-initialise / train only the last k weight layers (conv/linear; -1 = all)"),
    "ce_weight": Knob("spkd_ce_weight", "non_negative_float", "SPKD weight of CE on retain"),
    "sp_weight": Knob("spkd_sp_weight", "non_negative_float",
                      "SPKD weight of similarity-preserving distillation on retain"),
    "retain_ratio": Knob("retain_ratio", "share_float",
                         "reconstruction: seeded share of the retain slices the method sees"),
    "noise_lambda": Knob("noise_lambda", "non_negative_float", "NL, NL_FT: forget targets + |N(0,1)|·λ·(volume max)"),
    "l1_lambda": Knob("l1_lambda", "non_negative_float", "GA_l1, GA_l1_FT: weight of ‖θ‖₁, the sum of |θ|"),
    "noise_scale": Knob("noise_scale", "str",
                        "NL, NL_FT: noise |N(0,1)|·λ times the volume's max (max, the default) or as it is (absolute, "
                        "the Erase to Enhance code: λ 1e-5 on fastMRI's raw scale)", choices=("max", "absolute")),
    "ascent_weight": Knob("ascent_weight", "positive_float",
                          "GA_l1, GA_l1_FT: weight of the ascent term (1; the Erase to Enhance code doubles it: 2)"),
    "ascent_epochs": Knob("ascent_epochs", "positive_int", "pga: epochs of projected gradient ascent at the leaving site"),
    "forget_local_epoch_ratio": Knob("forget_local_epoch_ratio", "positive_float",
                                     "federaser: calibration epochs = local_ep × this"),
    "variant": Knob("scrub_variant", "str",
                    "SCRUB: kurmanji (default; max-step −KL) or corrective (Goel et al.'s corrective-unlearning code: "
                    "max-step −(CE + α·KL), msteps in steps, α 0.001, msteps 100, lr 0.0025)",
                    choices=("kurmanji", "corrective")),
}
