"""Evaluate an unlearned (or original) model: UA, RA, TA, MIA-efficacy, and with --retrain_model_id the gap
to a model retrained without the forget set, its Avg. Gap and the JS divergence on the forget set.
Reconstruction (--train_groups): PSNR / SSIM / NMSE per group, the gap to the retrained model, time / retrain."""
from arg_parser import build_parser
from utils.errors import UserError, run_cli


def main(argv=None) -> dict:
    parser = build_parser("data", "model", "unlearning", "evaluation", "transfer", "system", "output",
                          description=__doc__)
    args = parser.parse_args(argv)
    import torch  # after parsing: --help and flag errors answer without importing torch

    import models
    from unlearn import evaluate as ev
    from unlearn import forget_sets, transfer
    from unlearn.recon.workflow import ReconSetup, recon_unlearn_report
    from unlearn.workflow import evaluate, load_setup
    from utils.io import save_json
    from utils.metrics import js_divergence
    from utils.tables import format_table

    setup = load_setup(args, forget_from_meta=True)
    if isinstance(setup, ReconSetup):
        report = recon_unlearn_report(setup, args)
        if args.json:
            save_json(report, args.json)
            print(f"wrote {args.json}")
        return report
    batch = max(args.batch_size, 256)
    result, logits = evaluate(setup, setup.model, setup.meta, batch)
    unlearn_time = setup.meta.get("unlearn", {}).get("unlearn_time_s")
    report = {**{k: result[k] for k in ev.GAP_KEYS}, "avg_gap": None, "gap": None, "js_to_retrain": None,
              "unlearn_time_s": unlearn_time, "per_class": result["per_class"], **result.get("corrective", {})}
    corrective_rows = [[args.model_id, *result["corrective"].values()]] if "corrective" in result else []
    rows = [[args.model_id, *(result[k] for k in ev.GAP_KEYS), "", unlearn_time if unlearn_time is not None else ""]]
    if args.retrain_model_id:
        retrained, r_meta = models.load_model(args.retrain_model_id, args.model_dir, setup.data.describe(), setup.device)
        if "forget" not in r_meta or not torch.equal(forget_sets.from_meta(r_meta).indices, setup.forget.indices):
            stored = forget_sets.describe(forget_sets.from_meta(r_meta)) if "forget" in r_meta else "nothing"
            raise UserError(f"{args.retrain_model_id} was retrained without {stored}, not the forget set of "
                            f"{args.model_id} ({forget_sets.describe(setup.forget)})")
        r_result, r_logits = evaluate(setup, retrained, r_meta, batch)
        report.update(ev.gap_to_retrain(result, r_result))
        report["js_to_retrain"] = js_divergence(logits.train[setup.forget.indices], r_logits.train[setup.forget.indices])
        report["retrain"] = {k: r_result[k] for k in ev.GAP_KEYS}
        r_time = r_meta.get("unlearn", {}).get("unlearn_time_s")
        report["retrain_time_s"] = r_time
        if r_time and unlearn_time is not None:
            report["rte_ratio"] = unlearn_time / r_time
        rows[0][5] = report["avg_gap"]
        rows.append([args.retrain_model_id, *(r_result[k] for k in ev.GAP_KEYS), 0.0, r_time or ""])
        rows.append(["gap to retrain", *(report["gap"][k] for k in ev.GAP_KEYS), report["avg_gap"], ""])
        if corrective_rows:
            report["retrain"]["corrective"] = r_result["corrective"]
            corrective_rows.append([args.retrain_model_id, *r_result["corrective"].values()])
    report.update(transfer.transfer_metrics(setup, args, batch))
    print(f"{setup.data.name}: forgetting {forget_sets.describe(setup.forget)}")
    print(format_table(["model", "UA", "RA", "TA", "MIA", "Avg.Gap", "time s"], rows))
    if corrective_rows:
        print(f"corrective ({setup.manipulation['method']}, {len(setup.manipulation['indices'])} manipulated samples):")
        print(format_table(["model", *result["corrective"]], corrective_rows))
    if report["js_to_retrain"] is not None:
        print(f"JS divergence to the retrained model on the forget set: {report['js_to_retrain']:.4f}")
    for line in transfer.transfer_lines(report):
        print(line)
    if args.json:
        save_json(report, args.json)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    run_cli(main)
