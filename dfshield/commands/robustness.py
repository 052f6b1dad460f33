"""``dfshield robustness``: re-test checkpoints on their test split under JPEG, blur,
downscaling and noise (:mod:`dfshield.scoring.robustness` documents the outputs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfshield.commands._common import add_set_argument, timestamped_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--checkpoint",
        dest="checkpoints",
        action="append",
        required=True,
        metavar="PATH",
        help="a best.pt (repeat for several checkpoints)",
    )
    add(
        "--protocol", metavar="FILE", help="protocol YAML whose data section replaces the saved one"
    )
    add_set_argument(parser, example="data.test_datasets=[Celeb-DF-v2]")
    add(
        "--perturbations",
        metavar="LIST",
        help="comma-separated, e.g. clean,jpeg:75,blur:1,downscale:0.5,noise:5 "
        "(default: clean, jpeg 95/75/50/30, blur 1/2, downscale 0.5/0.25, noise 5/10)",
    )
    add("--out", metavar="DIR", help="output folder (default <train.output_dir>/robustness-<time>)")
    add(
        "--threshold",
        default="eer",
        metavar="RULE",
        help="threshold for ACC: eer (stored in each checkpoint; default), fpr:X or a number",
    )
    add("--seed", type=int, default=0, help="seed of the Gaussian noise (default 0)")
    add("--batch-size", type=int, default=64, help="frames per forward pass (default 64)")
    add("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    add("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from dfshield.scoring.robustness import format_table, run_robustness, write_outputs

    result = run_robustness(
        args.checkpoints,
        args.perturbations,
        protocol=args.protocol,
        overrides=args.overrides,
        threshold=args.threshold,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
    )
    out = Path(args.out) if args.out else timestamped_dir(result.output_dir, "robustness")
    paths = write_outputs(out, result)
    print(format_table(result, "auc"))
    print(f"results: {', '.join(str(p) for p in paths.values())}")
    return 0
