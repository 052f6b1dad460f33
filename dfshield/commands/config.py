"""``dfshield config``: print the merged, checked run config as YAML (what ``train`` would run).

The output is a complete config: ``dfshield train --config`` accepts it as it is.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--detector",
        metavar="NAME",
        help="a detector config shipped in configs/detectors/ (e.g. spcup)",
    )
    source.add_argument("--config", metavar="FILE", help="a detector YAML file of your own")
    parser.add_argument(
        "--protocol", metavar="FILE", help="protocol YAML; default configs/protocol.yaml"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set loss.alpha=0.3 (repeatable; values are YAML)",
    )


def run(args: argparse.Namespace) -> int:
    import yaml

    from dfshield.config import load_run_config
    from dfshield.fileio import json_ready

    cfg = load_run_config(args.protocol, args.config or args.detector, args.overrides)
    print(yaml.safe_dump(json_ready(cfg.to_dict()), sort_keys=False, allow_unicode=True), end="")
    return 0
