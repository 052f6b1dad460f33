"""``dfshield build-lmdb``: a DeepfakeBench dataset from images or videos (``build_dataset``)."""

from __future__ import annotations

import argparse

from dfshield.dataset_builder.sources import GROUP_IMAGES, LAYOUTS
from dfshield.dataset_builder.split_allocation import DEFAULT_FRACTIONS, check_fractions
from dfshield.errors import ConfigError
from dfshield.media.faces import DETECTORS, ON_MISSING
from dfshield.media.pipeline import DEFAULT_MAX_PIXELS

# the options passed to build_dataset under their own name
OPTIONS = (
    "layout frames detector scale size on_missing detect_faces group_images compression reencode "
    "seed overwrite workers device max_pixels"
).split()


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        return check_fractions([float(x) for x in text.replace(":", ",").split(",")])
    except (ValueError, ConfigError) as exc:
        raise argparse.ArgumentTypeError(
            f"expected train,val,test fractions such as 0.7,0.15,0.15 ({exc})"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Build a DeepfakeBench-format dataset (JSON + LMDB of PNG face crops) from an image "
        "tree, a video tree (FaceForensics++, DFDC) or a label CSV."
    )
    add = parser.add_argument
    add("source", help="folder with real/ and fake/, FaceForensics++ or DFDC folder, or a CSV")
    add("out", help="output folder; writes json/<NAME>.json and lmdb/<NAME>_lmdb")
    add("--name", required=True, help="dataset name (label strings become NAME_real / NAME_fake)")
    add("--layout", choices=LAYOUTS, default="auto", help="source layout (default: detect)")
    add("--frames", type=int, default=32, help="frames sampled evenly per video (default 32)")
    add("--detector", choices=DETECTORS, default="haar", help="mtcnn needs facenet-pytorch")
    add("--device", default=None, help="device for MTCNN, e.g. cuda:0")
    add("--scale", type=float, default=1.3, help="face box enlargement (default 1.3)")
    add("--size", type=int, default=256, help="crop size in pixels (default 256; 0: as it is)")
    add("--on-missing", choices=ON_MISSING, default="skip", help="skip, or keep the centre crop")
    add("--detect-faces", action="store_true", help="crop faces in images too (not crops yet)")
    add("--group-images", choices=GROUP_IMAGES, default="image", help="a video per image/folder")
    add("--compression", default=None, help="FaceForensics++ level to use (c23, c40, raw)")
    add(
        "--split",
        type=_fractions,
        default=DEFAULT_FRACTIONS,
        metavar="TRAIN,VAL,TEST",
        help="split fractions by video, stratified (default 0.7,0.15,0.15)",
    )
    add("--seed", type=int, default=0, help="seed of the split (default 0)")
    add("--reencode", metavar="jpeg:Q", help="re-encode all images of both classes as JPEG first")
    add("--workers", type=int, default=1, help="processes decoding and cropping (default 1)")
    add("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images/frames")
    add("--overwrite", action="store_true", help="replace the existing dataset, once done")
    add("--no-progress", action="store_true", help="no progress bar")
    add("--strict", action="store_true", help="exit 1 if an input failed, was missing or faceless")


def run(args: argparse.Namespace) -> int:
    """Prints the summary. Returns 0, or 1 with --strict and problems."""
    from dfshield.dataset_builder.builder import build_dataset

    summary = build_dataset(
        args.source,
        args.out,
        args.name,
        fractions=args.split,
        progress=not args.no_progress,
        **{option: getattr(args, option) for option in OPTIONS},
    )
    print(summary.format())
    problems = summary.failed or summary.missing or summary.faces_not_found or summary.videos_empty
    return 1 if (args.strict and problems) else 0
