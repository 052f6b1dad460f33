"""``dfshield config``: print the merged, checked run config as YAML, complete, so that
``dfshield train --config`` accepts it as it is."""

from __future__ import annotations

import argparse

from dfshield.commands._common import add_config_arguments, add_detector_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_detector_arguments(parser)
    add_config_arguments(parser, feature_cache=False)


def run(args: argparse.Namespace) -> int:
    import yaml

    from dfshield.config import load_run_config
    from dfshield.fileio import json_ready

    cfg = load_run_config(args.protocol, args.config or args.detector, args.overrides)
    print(yaml.safe_dump(json_ready(cfg.to_dict()), sort_keys=False, allow_unicode=True), end="")
    return 0
