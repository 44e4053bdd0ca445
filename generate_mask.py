"""SalUn weight saliency: masks keeping the top 10 %, 20 %, ..., 100 % of weights by |forget-set gradient|,
written to SaliencyMaps/{model_id}/with_{t}.pt."""
from pathlib import Path

from arg_parser import build_parser
from utils.errors import run_cli


def main(argv=None) -> Path:
    args = build_parser("data", "model", "unlearning", "system", "output", description=__doc__).parse_args(argv)
    import unlearn  # after parsing: --help and flag errors answer without importing torch
    from datasets.batching import BatchLoader
    from unlearn import DEFAULT_BATCH_SIZE, masks
    from unlearn.recon.workflow import forget_saliency
    from unlearn.workflow import load_setup, refuse_existing
    from utils.train_loop import task_loss

    setup = load_setup(args)
    files = [masks.mask_file(args.model_id, t, args.mask_dir) for t in masks.THRESHOLDS]
    refuse_existing(files, args.overwrite)
    if unlearn.family(setup.data) == "reconstruction":
        saliency = forget_saliency(setup.model, setup, args.unlearn_batch_size or args.batch_size, args.num_workers)
    else:
        forget_batches = BatchLoader(setup.data.train, args.unlearn_batch_size or DEFAULT_BATCH_SIZE,
                                     tuple(setup.meta["mean"]), tuple(setup.meta["std"]), setup.device,
                                     indices=setup.forget.indices)
        saliency = masks.forget_gradient_magnitude(setup.model, forget_batches, task_loss(False))
    folder = masks.save_masks(masks.top_share_masks(saliency), args.model_id, setup.forget.to_meta(), args.mask_dir)
    total = sum(s.numel() for s in saliency.values())
    print(f"saliency of {total:,} weights from {len(setup.forget.indices)} forget samples (slices); "
          f"masks with_0.1.pt ... with_1.0.pt in {folder}/")
    return folder


if __name__ == "__main__":
    run_cli(main)
