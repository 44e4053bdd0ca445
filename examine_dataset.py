"""Examine a dataset: samples per class in each split, and a labelled grid of samples (keys choose a class);
for MRI groups (--train_groups / --sites): volumes and slices per group and split, and zero-filled inputs beside
their targets."""
from arg_parser import build_parser, task_of
from utils.errors import run_cli


def main(argv=None) -> dict:
    args = build_parser("data", "evaluation", "system", "output", description=__doc__).parse_args(argv)
    import datasets  # after parsing: --help and flag errors answer without importing torch
    from engine.recon_report import examine_recon
    from utils import plots
    from utils.metrics import class_counts
    from utils.tables import format_table

    if task_of(args) == "reconstruction":
        return examine_recon(args)
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


if __name__ == "__main__":
    run_cli(main)
