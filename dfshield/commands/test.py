"""``dfshield test``: evaluate a checkpoint on a test split (``evaluate_checkpoint``), with
``--extra-test`` sets (:mod:`dfshield.scoring.extra_test_sets`) or DeepfakeBench weights
(``--detector-config``). A ``--set`` that changes the frozen backbone only warns; one that changes
the weights' shapes or the detector's name is an error."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfshield.commands._common import add_config_arguments, add_extra_test_argument


def add_detector_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detector-config",
        metavar="YAML",
        help="the checkpoint is DeepfakeBench weights (their ckpt_best.pth): their detector "
        "YAML it was trained with (model_name, resolution, mean, std; see docs/deepfakebench.md)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a best.pt or last.pt")
    add_detector_config_argument(parser)
    add_config_arguments(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for test_metrics.json, test_scores.csv and results.md "
        "(default: a 'test' folder beside the checkpoint's run; for DeepfakeBench weights "
        "'dfshield_test_<their test folder>' in their run)",
    )
    add_extra_test_argument(parser)


def run(args: argparse.Namespace) -> int:
    from dfshield.config import load_yaml, parse_overrides
    from dfshield.detectors.deepfakebench_wrapper import wrapped_parts
    from dfshield.engine.checkpoint import checkpoint_run_config
    from dfshield.eval.results import format_table
    from dfshield.integrations.deepfakebench import imported_checkpoint, their_test_folder
    from dfshield.scoring.evaluate_checkpoint import evaluate_checkpoint

    given = Path(args.checkpoint)
    layers = []
    if args.protocol:
        layers.append((args.protocol, {"data": load_yaml(args.protocol).get("data", {})}))
    if args.overrides:
        layers.append(("--set", parse_overrides(args.overrides)))
    out = Path(args.out) if args.out else given.resolve().parent.parent / "test"
    if args.detector_config and not args.out:
        out = their_test_folder(given)
    with imported_checkpoint(given, args.detector_config, args.protocol) as checkpoint:
        cfg = checkpoint_run_config(checkpoint, layers)
        rows, is_main = evaluate_checkpoint(
            cfg, checkpoint, out, feature_cache=args.feature_cache, extra_tests=args.extra_tests
        )
    if is_main:
        theirs = args.detector_config is not None or wrapped_parts(cfg.detector) is not None
        print(format_table(rows, deepfakebench=theirs))
        print(f"results: {out}")
    return 0
