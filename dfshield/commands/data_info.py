"""``dfshield data-info``: check a dataset set-up before training on it (``check_dataset``)."""

from __future__ import annotations

import argparse
import json
import sys

from dfshield.data.config import DataConfig
from dfshield.data.index import SPLITS


def _label_entry(text: str) -> tuple[str, int]:
    name, sep, value = text.rpartition("=")
    if not sep or not name or value not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected LABEL=0 or LABEL=1, got {text!r}")
    return name, int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DataConfig()
    add = parser.add_argument
    add(
        "--dataset",
        action="append",
        required=True,
        metavar="NAME",
        help="dataset name (JSON file stem, e.g. FaceForensics++, FF-DF_c40); repeatable",
    )
    add("--json-dir", default=defaults.json_dir, help="folder of the JSONs (default %(default)s)")
    add("--lmdb-dir", help="folder of <Dataset>_lmdb environments (default: frames on disk)")
    add("--data-root", help="folder the JSON frame paths are relative to (without --lmdb-dir)")
    add(
        "--compression",
        default=defaults.compression,
        choices=["c23", "c40", "raw"],
        help="level read from FF-family JSONs (default: %(default)s)",
    )
    add("--split", action="append", choices=list(SPLITS), help="only this split (repeatable)")
    add(
        "--label",
        action="append",
        type=_label_entry,
        default=[],
        metavar="LABEL=0|1",
        help="extra label string for the label dictionary (repeatable)",
    )
    add("--no-decode", action="store_true", help="only resolve keys, do not decode frames")
    add("--workers", type=int, default=None, help="decoding threads (default: up to 8)")
    add(
        "--max-pixels",
        type=int,
        default=defaults.max_pixels,
        metavar="N",
        help="frames larger than N pixels are undecodable, as data.max_pixels makes them for "
        "training (default %(default)s)",
    )
    add("--max-list", type=int, default=20, metavar="N", help="list at most N bad keys")
    add("--json", action="store_true", help="print the full report as JSON")


def run(args: argparse.Namespace) -> int:
    """0 when every frame is present and decodable, else 1."""
    from dfshield.data.checks import check_dataset

    reports = [
        check_dataset(
            name,
            args.json_dir,
            args.lmdb_dir,
            args.data_root,
            compression=args.compression,
            label_dict=dict(args.label or []),
            splits=args.split or SPLITS,
            decode=not args.no_decode,
            workers=args.workers,
            progress=not args.json and sys.stderr.isatty(),
            max_pixels=args.max_pixels,
        )
        for name in args.dataset
    ]
    if args.json:
        found = [r.to_dict() for r in reports]
        print(json.dumps(found if len(found) > 1 else found[0], indent=2))
    else:
        print("\n\n".join(r.format(max_list=args.max_list) for r in reports))
    return 0 if all(r.ok for r in reports) else 1
