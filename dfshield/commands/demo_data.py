"""``dfshield demo-data OUT``: make the synthetic demo dataset in DeepfakeBench format
(:func:`dfshield.dataset_builder.demo.make_demo_dataset` documents what it holds)."""

from __future__ import annotations

import argparse

from dfshield.dataset_builder.demo import (
    DEFAULT_COUNTS,
    DEFAULT_NOISE,
    DEFAULT_PERIODS,
    DEFAULT_STRENGTH,
    DEMO_NAME,
)
from dfshield.dataset_builder.layout import SPLITS


def _pair(text: str) -> tuple[int, int]:
    try:
        real, fake = (int(v) for v in text.replace(":", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected REAL,FAKE video counts such as 600,60, got {text!r}"
        ) from None
    if real < 0 or fake < 0:
        raise argparse.ArgumentTypeError(f"counts must be >= 0, got {text!r}")
    return real, fake


def _periods(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected powers of two such as 8,16, got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate the embedded demo dataset (synthetic, real:fake about 10:1, train/val/test) "
        "in DeepfakeBench format: OUT/json/NAME.json and OUT/lmdb/NAME_lmdb."
    )
    add = parser.add_argument
    add("out", help="output folder")
    add("--name", default=DEMO_NAME, help=f"dataset name (default {DEMO_NAME})")
    add("--seed", type=int, default=0, help="seed of scenes and generator (default 0)")
    add("--size", type=int, default=64, help="image size in pixels (default 64)")
    add("--strength", type=float, default=DEFAULT_STRENGTH, help="artefact (default %(default)s)")
    add("--periods", type=_periods, default=DEFAULT_PERIODS, help="artefact periods (default 8,16)")
    add("--noise", type=float, default=DEFAULT_NOISE, help="noise level (default %(default)s)")
    add("--frames-per-video", type=int, default=1, help="frames per video (default 1)")
    for split in SPLITS:
        real, fake = DEFAULT_COUNTS[split]
        help_text = f"videos in {split} (default {real},{fake})"
        add(f"--{split}", type=_pair, default=(real, fake), metavar="REAL,FAKE", help=help_text)
    add("--overwrite", action="store_true", help="replace an existing dataset of that name")
    add("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from dfshield.dataset_builder.demo import make_demo_dataset

    summary = make_demo_dataset(
        args.out,
        args.seed,
        name=args.name,
        counts={s: getattr(args, s) for s in SPLITS},
        size=args.size,
        strength=args.strength,
        periods=args.periods,
        noise=args.noise,
        frames_per_video=args.frames_per_video,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(summary.format())
    return 0
