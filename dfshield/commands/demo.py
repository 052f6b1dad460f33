"""``dfshield demo``: compare clip_linear, robust_clip and spcup on synthetic DemoFaces with a
tiny random-init CLIP ViT, on the CPU in minutes (:mod:`dfshield.studies.demo`). Its numbers say
nothing about real deepfakes."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfshield.commands._common import (
    add_overwrite_argument,
    add_report_argument,
    add_set_argument,
    timestamped_dir,
)
from dfshield.studies.demo import DEMO_DETECTORS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default="data/demo",
        metavar="DIR",
        help="where the demo dataset is (made there if missing; default data/demo)",
    )
    parser.add_argument("--run-dir", metavar="DIR", help="run folder (default runs/demo-<time>)")
    parser.add_argument("--detectors", nargs="+", default=DEMO_DETECTORS, metavar="NAME")
    add_set_argument(parser, example="train.epochs=10")
    add_overwrite_argument(parser)
    add_report_argument(parser)


def run(args: argparse.Namespace) -> int:
    from dfshield.dataset_builder.demo import make_demo_dataset
    from dfshield.eval.results import format_table
    from dfshield.html_report import study_report
    from dfshield.studies.demo import demo_configs, has_demo_data, run_demo

    data_dir = Path(args.data_dir)
    if not has_demo_data(data_dir):
        print(f"making the demo dataset in {data_dir} ...")
        print(make_demo_dataset(data_dir, progress=True).format())
    configs = demo_configs(data_dir, args.detectors, args.overrides)
    output_dir = next(iter(configs.values())).train.output_dir
    run_dir = Path(args.run_dir) if args.run_dir else timestamped_dir(output_dir, "demo")
    with study_report(run_dir, "demo", args.report):
        rows = run_demo(configs, run_dir, overwrite=args.overwrite)
    print(format_table(rows))
    report = "report.html, " if args.report else ""
    print(f"\nrun folder: {run_dir} ({report}results.md, roc.png, checkpoints, logs)")
    print(
        "These numbers come from synthetic images and a tiny random-init backbone: they show the "
        "pipeline working, not how well any detector finds real deepfakes."
    )
    return 0
