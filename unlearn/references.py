"""Where every method id comes from: the reference code it follows and each way ours differs, with the reason.

`python -m unlearn.method_table` renders this with each method's registered defaults into results/methods.md,
the README's method table; tests/test_method_table.py fails when a registered id has no entry here."""
from dataclasses import dataclass

SALUN = "OPTML-Group/Unlearn-Saliency"
CORRECTIVE = "drimpossible/corrective-unlearning-bench"
RECON = "vios-s/ReconUnlearning"


@dataclass(frozen=True)
class Reference:
    repo: str
    file: str
    differences: str = "none"


# (family, method id in lower case) -> its reference; a `_with_SalUn` id shares its method's row
REFERENCES: dict[tuple[str, str], Reference] = {
    ("classification", "retrain"): Reference(SALUN, "Classification/unlearn/retrain.py",
        "the original model's recipe (epochs, lr, optimiser, schedule, batch) unless given; SalUn retrains with "
        "its own --unlearn_epochs / --unlearn_lr"),
    ("classification", "ft"): Reference(SALUN, "Classification/unlearn/FT.py", "constant lr (the reference's "
        "MultiStepLR milestones lie beyond its 10 epochs too)"),
    ("classification", "ga"): Reference(SALUN, "Classification/unlearn/GA.py"),
    ("classification", "rl"): Reference(SALUN, "Classification/unlearn/RL.py (CIFAR-10 branch)",
        "5 epochs at lr 0.01 (the README's 10 at 0.013 did no better on Digits); the forget pass needs several steps an "
        "epoch: on Digits' 128-row class use --unlearn_batch_size 16"),
    ("classification", "rl_other"): Reference(SALUN, "Classification/unlearn/RL.py (CIFAR-100 branch)",
        "our variant: one shuffled pass over forget ∪ retain, forget rows relabelled to a random *other* class; "
        "forgets a whole class where RL's short forget pass does not"),
    ("classification", "ft_prune"): Reference(SALUN, "Classification/unlearn/FT_prune.py (FT_l1)"),
    ("classification", "neggrad+"): Reference("meghdadk/SCRUB", "thirdparty/repdistiller/helper/loops.py (train_negrad)",
        "β weighs the forget term of one joint loss (the reference: α·retain − (1−α)·forget)"),
    ("classification", "scrub"): Reference("meghdadk/SCRUB", "thirdparty/repdistiller/helper/loops.py (train_distill), "
        "large_scale_unlearning.ipynb",
        "5 epochs at lr 0.01 (the notebook's 3 at 5e-4 assume ~350 steps an epoch); one batch size for forget and "
        "retain; --scrub_variant corrective is corrective-unlearning-bench's Scrub (max-step ascends CE + α·KL, "
        "msteps in steps, α 0.001, msteps 100, lr 0.0025)"),
    ("classification", "badt"): Reference("vikram2000/bad-teaching-unlearning", "unlearn.py (UnlearnerLoss, "
        "blindspot_unlearner)", "10 epochs instead of 1: one reference epoch on CIFAR is ~70 Adam steps, one on Digits 2"),
    ("classification", "boundary_shrink"): Reference(SALUN, "Classification/unlearn/boundary_sh.py",
        "the neighbour is clamped to [0, 1] and rounded to 1/255 in pixel units, then normalised (the reference's "
        "images are unnormalised)"),
    ("classification", "boundary_expanding"): Reference(SALUN, "Classification/unlearn/boundary_ex.py",
        "the checkpoint keeps the shadow class (K+1 outputs) and records it in its meta, so it reloads"),
    ("classification", "boundary_expanding_drop"): Reference(SALUN, "Classification/unlearn/boundary_ex.py",
        "our variant: the shadow row is cut off after training, so the model keeps K outputs"),
    ("classification", "wfisher"): Reference(SALUN, "Classification/unlearn/Wfisher.py",
        "F⁻¹v solved exactly by Woodbury, F = λI + GGᵀ/n over 64 per-sample retain gradients (the reference: "
        "WoodFisher's rank-one updates over 1,000); λ 1 matches the reference's identity start, so α is on its scale"),
    ("classification", "ssd"): Reference("if-loops/selective-synaptic-dampening", "src/ssd.py (ParameterPerturber), "
        "src/forget_full_class_strategies.py (ssd_tuning)",
        "one batch knob (the random-forgetting script uses 128: --unlearn_batch_size 128); α 10 sits on Digits' cap of "
        "imp_f/imp_D (≈ |D|/|D_f| = 10 for one class of ten), so it dampens almost nothing there: see ASSD"),
    ("classification", "assd"): Reference("if-loops/adaptive-selective-synaptic-dampening", "error_unlearning.ipynb "
        "(ParameterPerturber.modify_weight, ssd)",
        "batch 64 instead of 1,024 (sized for its 180k tabular rows); α is chosen per run, so --SSDselectwt is refused; "
        "its DAMPEN_LIMIT 0 and LAYER_SIZE_CUTOFF do nothing and are left out"),
    ("classification", "eu"): Reference(CORRECTIVE, "src/methods.py (ApplyK), src/utils.py (unlearn_func 'EU')",
        "epochs instead of iterations (the reference retrains for its pretraining's 4,000)"),
    ("classification", "cf"): Reference(CORRECTIVE, "src/methods.py (ApplyK), src/utils.py (unlearn_func 'CF')",
        "5 epochs at lr 0.01, constant (the reference: 1,000 iterations at its pretraining lr, linear decay)"),
    ("classification", "spkd"): Reference("yongwookim1/UUEF", "unlearn/SPKD.py",
        "none (SP = ‖G_s − G_t‖_F / B², unsquared as in the reference code; Tung & Mori square it)"),
    ("reconstruction", "retrain"): Reference(RECON, "configs/experiment (Oracle: brain only)",
        "the original model's recipe on the retain groups"),
    ("reconstruction", "ft"): Reference(RECON, "configs/experiment/ul_FT*.yaml"),
    ("reconstruction", "ga"): Reference(RECON, "src/models/varnet_module.py (ga)"),
    ("reconstruction", "ga_l1"): Reference(RECON, "src/models/varnet_module.py (ga, l1_reg)",
        "−loss + λ‖θ‖₁ with λ 1e-4; the reference line `loss += loss + ‖θ‖₁` is 2·(−loss) + ‖θ‖₁ "
        "(--ascent_weight 2 --l1_lambda 1, set by mri_unlearn.sh --paper)"),
    ("reconstruction", "ga_ft"): Reference(RECON, "configs/experiment/ul_GA_FT*.yaml"),
    ("reconstruction", "ga_l1_ft"): Reference(RECON, "configs/experiment/ul_GA_L1_FT*.yaml"),
    ("reconstruction", "nl"): Reference(RECON, "src/data/components/fastmri_transform.py (noisy_label)",
        "noise scaled by the volume's max (λ·max·|N(0,1)|, λ 3): the reference's absolute λ 1e-5 assumes fastMRI's "
        "raw scale (--noise_scale absolute --noise_lambda 1e-5, set by mri_unlearn.sh --paper)"),
    ("reconstruction", "nl_ft"): Reference(RECON, "configs/experiment/ul_NL_FT*.yaml"),
    ("reconstruction", "ssd"): Reference("ABiiitH/CorrectiveMachineUnlearningForMRI", "SSD on the reconstruction loss",
        "importance = squared gradient of the reconstruction loss; α 1.5 because the forget group is half the data"),
    ("federated", "fl_retrain"): Reference("guopengf/FL-MRCM", "main_fl_mr.py", "the federation retrained without the site"),
    ("federated", "federaser"): Reference("Zoybzo/FedEraser-Code", "Fed_Unlearn_base.py"),
    ("federated", "fl_ft"): Reference("guopengf/FL-MRCM", "main_fl_mr.py", "our baseline: more FL rounds without the site"),
    ("federated", "pga"): Reference("IBM/federated-unlearning", "unlearn.py (projected gradient ascent)"),
}


def reference(family: str, method_id: str) -> Reference | None:
    """The reference of a registered id (a `_with_SalUn` id: its method's), or None."""
    key = method_id.lower().removesuffix("_with_salun")
    return REFERENCES.get((family, key))
