"""``dfshield train``: train one detector, select the best epoch on validation, test it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dfshield.commands._common import (
    add_config_arguments,
    add_detector_arguments,
    add_overwrite_argument,
    timestamped_dir,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_detector_arguments(parser)
    add_config_arguments(parser)
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run folder (default <train.output_dir>/<detector>-<time>)"
    )
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir from its last checkpoint, with its saved config",
    )
    add_overwrite_argument(reuse)


def run(args: argparse.Namespace) -> int:
    from dfshield.config import load_run_config, saved_run_config
    from dfshield.detectors.deepfakebench_wrapper import display_name, wrapped_parts
    from dfshield.engine.trainer import Trainer
    from dfshield.errors import ConfigError
    from dfshield.eval.results import format_table, write_results

    if args.resume:
        if not args.run_dir:
            raise ConfigError("--resume needs --run-dir: the folder of the run to continue")
        saved = Path(args.run_dir) / "config.json"
        if not saved.is_file():
            raise ConfigError(
                f"--resume: {saved} not found; is {args.run_dir} a dfshield run folder?"
            )
        if args.overrides or args.detector or args.config or args.protocol:
            raise ConfigError(
                "--resume continues with the run's saved config; drop --detector, "
                "--config, --protocol and --set"
            )
        saved_config = json.loads(saved.read_text())
        cfg = saved_run_config(saved_config, saved, source=str(saved))
    else:
        detector = args.config or args.detector
        if detector is None:
            raise ConfigError(
                "choose a detector: --detector NAME (see `dfshield list detectors`) "
                "or --config FILE"
            )
        cfg = load_run_config(args.protocol, detector, args.overrides)
    run_dir = (
        Path(args.run_dir)
        if args.run_dir
        else timestamped_dir(cfg.train.output_dir, Path(str(args.config or args.detector)).stem)
    )
    trainer = Trainer(cfg, run_dir, feature_cache=args.feature_cache, overwrite=args.overwrite)
    with trainer.hold_run_folder():
        summary = trainer.fit(resume=args.resume)
        result = trainer.test()
        if trainer.dist.is_main:
            name, wrapped = display_name(cfg.detector), wrapped_parts(cfg.detector) is not None
            row = {"detector": name, **result["metrics"]}
            write_results(run_dir, [row], title=f"{name}: test split", deepfakebench=wrapped)
            print(format_table([row], deepfakebench=wrapped))
            print(
                f"best epoch {summary['best_epoch']} (validation {cfg.train.selection_metric}); "
                f"training step capture: {summary['capture']}; run folder: {run_dir}"
            )
    return 0
