"""main_test.py and examine_dataset.py for classification: metrics, confusion matrix and sample viewer of a split."""
import argparse
from pathlib import Path

import datasets
import models
from utils import checkpoints, plots
from utils.device import amp_dtype, resolve_device
from utils.errors import UserError
from utils.metrics import class_counts, confusion_matrix, predictions
from utils.results import save_record
from utils.tables import format_table

from .evaluation import classification_report, format_report, split_logits
from .family import family_from_meta


def test_classifier(args: argparse.Namespace) -> dict:
    """Overall and class-wise accuracy and AUC on --split, the confusion matrix, JSON, and the sample viewer."""
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
        save_record(args.json, {k: report[k] for k in ("accuracy", "auc", "per_class")}, meta, family_from_meta(meta),
                    args.label, dict(args.tag))
    plots.sample_viewer(split.images, labels, data.class_names, title=f"{data.name} {args.split}",
                        predicted=predictions(logits, data.multilabel), seed=args.seed, save_fig=args.save_fig,
                        no_gui=args.no_gui)
    return report


def examine_images(args: argparse.Namespace) -> dict:
    """Samples per class in each split, and a labelled grid of samples (keys choose a class)."""
    data = datasets.load(args)
    counts = {s: class_counts(data.split(s).labels, data.num_classes, data.multilabel) for s in ("train", "val", "test")}
    print(f"{data.name}: {data.task}, {data.num_classes} {'labels' if data.multilabel else 'classes'}, "
          f"{data.in_channels} channel(s), {data.size}x{data.size} px  (from {data.source})")
    rows = [[f"{i}: {name}", *(counts[s][i] for s in counts), sum(counts[s][i] for s in counts)]
            for i, name in enumerate(data.class_names)]
    rows.append(["total images", *(len(data.split(s)) for s in counts), sum(len(data.split(s)) for s in counts)])
    print(format_table(["label" if data.multilabel else "class", "train", "val", "test", "total"], rows))
    split = data.split(args.split)
    plots.sample_viewer(split.images, split.labels, data.class_names, title=f"{data.name} {args.split}",
                        seed=args.seed, save_fig=args.save_fig, no_gui=args.no_gui)
    return counts
