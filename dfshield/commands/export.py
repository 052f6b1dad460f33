"""``dfshield export``: a dfshield checkpoint as another framework's weights file, through
:func:`dfshield.integrations.deepfakebench.export_checkpoint` (docs/deepfakebench.md)."""

from __future__ import annotations

import argparse

FORMATS = ("deepfakebench",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a best.pt or last.pt")
    parser.add_argument("out", metavar="OUT.pth", help="the weights file to write")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="deepfakebench",
        help="deepfakebench (default): the full state_dict their test.py strict-loads, and "
        "OUT.yaml with the detector YAML lines that build the detector",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT and OUT.yaml if they exist"
    )


def run(args: argparse.Namespace) -> int:
    from dfshield.integrations.deepfakebench import export_checkpoint

    weights, lines = export_checkpoint(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"weights: {weights}")
    print(f"detector YAML lines: {lines}")
    return 0
