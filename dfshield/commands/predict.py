"""``dfshield predict``: score images, folders and videos with a trained checkpoint
(:mod:`dfshield.scoring.predict`); exit status 1 only when nothing could be scored."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfshield.commands.test import add_detector_config_argument
from dfshield.scoring.predict import (
    AGGREGATES,
    DEFAULT_MAX_PIXELS,
    FACE_CROP,
    PredictOptions,
    predict_media,
)
from dfshield.scoring.predict_output import (
    check_rows_path,
    format_rows,
    rows_meta,
    scored_items,
    summary_line,
    write_rows,
)

# the options of dfshield.scoring.predict.PredictOptions, under their own name
OPTIONS = "frames aggregate face_crop on_missing face_detector scale size batch_size workers"
OPTIONS += " max_pixels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("inputs", nargs="+", metavar="INPUT", help="image, video or folder (searched recursively)")
    add("--checkpoint", required=True, metavar="PATH", help="a best.pt or last.pt")
    add_detector_config_argument(parser)
    add("--out", metavar="FILE", help="also write every row (frames too) to FILE.csv or FILE.json")
    add(
        "--threshold",
        default="eer",
        metavar="RULE",
        help="decision threshold: eer (the checkpoint's, chosen on validation; default), fpr:0.01 "
        "(needs validation scores in the checkpoint) or a probability such as 0.5",
    )
    add("--frames", type=int, default=32, help="frames sampled evenly per video (default 32)")
    add("--aggregate", choices=AGGREGATES, default="mean", help="how frame scores make a video's")
    add(
        "--face-crop",
        choices=FACE_CROP,
        default="auto",
        help="auto: crop faces in video frames, not in images (already face crops; default)",
    )
    add(
        "--on-missing",
        choices=("center", "skip"),
        default="center",
        help="a frame without a face: score its centre square (default) or skip it",
    )
    add("--face-detector", choices=("haar", "mtcnn"), default="haar", help="mtcnn runs on --device")
    add("--scale", type=float, default=1.3, help="face box enlargement (default 1.3)")
    add("--size", type=int, default=256, help="face crop size in pixels (default 256)")
    add("--batch-size", type=int, default=32, help="frames (clips) per forward pass (32)")
    add("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    add("--workers", type=int, default=0, help="processes decoding media (default 0: this one)")
    add("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images/frames")
    add("--show-frames", action="store_true", help="list every frame on the terminal too")
    add("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from dfshield.integrations.deepfakebench import imported_checkpoint
    from dfshield.scoring.scorer import Scorer

    options = PredictOptions(**{name: getattr(args, name) for name in OPTIONS.split()})
    out = check_rows_path(args.out) if args.out else None
    with imported_checkpoint(args.checkpoint, args.detector_config) as checkpoint:
        scorer = Scorer.from_checkpoint(checkpoint, device=args.device, threshold=args.threshold)
    scorer.checkpoint = Path(args.checkpoint)  # the file given, not an imported copy
    rows = predict_media(scorer, args.inputs, options, progress=not args.no_progress)
    threshold = scorer.threshold
    print(
        f"{scorer.name} ({args.checkpoint}): fake when P(fake) >= {threshold.value:.4f} "
        f"(threshold rule '{threshold.rule}', {threshold.chosen_on})"
    )
    print(format_rows(rows, args.show_frames))
    print(summary_line(rows))
    if out is not None:
        write_rows(out, rows, rows_meta(scorer, options))
        print(f"rows: {out}")
    if not scored_items(rows):
        print("error: nothing could be scored (see the messages above)", file=sys.stderr)
        return 1
    return 0
