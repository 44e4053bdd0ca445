"""Test a trained model: overall and class-wise accuracy and AUC, confusion matrix, and a sample viewer; for
reconstruction (--train_groups) NMSE / PSNR / SSIM per group, example reconstructions and a slice viewer, or with
--submission_dir fastMRI's submission files (also for test and challenge files, which have no target)."""
from pathlib import Path

from arg_parser import build_parser, task_of
from utils.errors import UserError, run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "model", "evaluation", "submission", "system", "output", "fl_mrcm_test",
                        description=__doc__).parse_args(argv)
    import datasets  # after parsing: --help and flag errors answer without importing torch
    import models
    from engine.evaluation import classification_report, format_report, split_logits
    from engine.recon_report import test_recon
    from engine.recon_submission import write_submission
    from utils import checkpoints, plots
    from utils.device import amp_dtype, resolve_device
    from utils.io import save_json
    from utils.metrics import confusion_matrix, predictions

    if task_of(args) == "reconstruction":
        return write_submission(args) if args.submission_dir else test_recon(args)
    if args.submission_dir:
        raise UserError("--submission_dir writes fastMRI reconstructions; it needs --train_groups")
    device = resolve_device(args.device)
    data = datasets.load(args)
    model, meta = models.load_model(args.model_id, args.model_dir, data.describe(), device, args.arch,
                                         args.other_dataset)
    split = data.split(args.split)
    logits, labels = split_logits(model, split, meta, device, args.batch_size, amp_dtype(device, args.amp))
    report = classification_report(logits, labels, data.class_names, data.multilabel)
    print(f"{checkpoints.find_checkpoint(args.model_id, args.model_dir)} on {data.name} {args.split} ({len(split)} images)")
    print(format_report(report, data.multilabel))

    run_dir = Path(args.runs_dir) / Path(args.model_id).name.removesuffix(".pt")
    if not data.multilabel:
        cm = confusion_matrix(logits, labels, data.num_classes)
        path = plots.confusion_figure(cm, data.class_names, run_dir / f"confusion_{args.split}.png",
                                      title=f"{args.model_id} on {data.name} {args.split}")
        print(f"confusion matrix: {path}")
    if args.json:
        save_json({k: report[k] for k in ("accuracy", "auc", "per_class")}, args.json)
        print(f"wrote {args.json}")
    plots.sample_viewer(split.images, labels, data.class_names, title=f"{data.name} {args.split}",
                        predicted=predictions(logits, data.multilabel), seed=args.seed, save_fig=args.save_fig,
                        no_gui=args.no_gui)
    return report


if __name__ == "__main__":
    run_cli(main)
