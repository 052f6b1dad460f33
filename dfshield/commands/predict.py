"""``dfshield predict``: score images, folders and videos with a trained checkpoint.

Inputs are image files, video files or folders (searched recursively for both; other files are
reported and passed over). Videos: ``--frames`` frames sampled evenly over the whole clip
(``video.sample_frames``), the largest face cut out by the same :class:`FaceCropper` as
``dfshield build-lmdb`` (Haar, box ×1.3, 256×256), each frame scored, and the video scored by the
mean (``--aggregate``) of its frame probabilities. Images are taken as face crops already, as in
a DeepfakeBench dataset (``--face-crop auto``; ``always`` crops them too, ``never`` crops nothing).
A frame without a detectable face is scored on its centre square with a warning and marked
``face_found: false`` (``--on-missing skip`` leaves it out instead).

Video-mode detectors (``ddln``) get the sampled frames as clips of ``data.clip_size`` frames
``(1, T, 3, H, W)`` (``frames.select_clips``; an image is a one-frame clip repeated T times): the
video row holds the video head, the frame rows the frame head.

Each item that cannot be read (corrupt or truncated file, no frame, not an image or video) gets
a clear message and an ``error`` row; the others are still scored. The exit status is 1 only when
nothing could be scored.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = (
    "path",
    "kind",
    "frame_index",
    "n_frames",
    "logit",
    "prob_fake",
    "decision",
    "face_found",
    "status",
    "message",
)
AGGREGATES = ("mean", "max", "median")
FACE_CROP = ("auto", "always", "never")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image, video or folder (searched recursively)"
    )
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a best.pt or last.pt")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="also write every row (per frame, image and video) to FILE.csv or FILE.json",
    )
    parser.add_argument(
        "--threshold",
        default="eer",
        metavar="RULE",
        help="decision threshold: eer (the checkpoint's, chosen on validation; "
        "default), fpr:0.01 (needs validation scores in the checkpoint) or a "
        "probability such as 0.5",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=32,
        help="frames sampled evenly per video (default 32, as build-lmdb)",
    )
    parser.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        default="mean",
        help="how frame probabilities make a video's (default mean)",
    )
    parser.add_argument(
        "--face-crop",
        choices=FACE_CROP,
        default="auto",
        help="auto: crop faces in video frames, not in images (already face "
        "crops); always; never (default auto)",
    )
    parser.add_argument(
        "--on-missing",
        choices=("center", "skip"),
        default="center",
        help="a frame without a face: score its centre square (default) or skip it",
    )
    parser.add_argument(
        "--face-detector",
        choices=("haar", "mtcnn"),
        default="haar",
        help="face detector (default haar, as build-lmdb; mtcnn runs on --device)",
    )
    parser.add_argument(
        "--scale", type=float, default=1.3, help="face box enlargement (default 1.3)"
    )
    parser.add_argument(
        "--size", type=int, default=256, help="face crop size in pixels (default 256)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="frames (or clips) per forward pass (default 32)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that decode and crop media (default 0: in this process)",
    )
    parser.add_argument(
        "--show-frames",
        action="store_true",
        help="list every frame on the terminal too (the --out file always has them)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# -----------------------------------------------------------------------------------------
# finding the inputs
# -----------------------------------------------------------------------------------------
@dataclass
class MediaItem:
    path: Path
    kind: str  # "image" | "video" | "error"
    message: str = ""


def discover(inputs: list[str]) -> list[MediaItem]:
    """One item per media file; problems (missing path, empty folder, other file) as ``error``
    items with a message. Folders are searched recursively, files listed in sorted order."""
    from dfshield.datasets.sources import IMAGE_EXTENSIONS, media_kind
    from dfshield.media.video import VIDEO_EXTENSIONS

    known = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
    items: list[MediaItem] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            media = [p for p in files if media_kind(p)]
            if not media:
                what = f"only {len(files)} other file(s)" if files else "no files"
                items.append(
                    MediaItem(
                        path,
                        "error",
                        f"folder holds no images or videos ({what}); supported extensions: {known}",
                    )
                )
                continue
            for p in files:
                kind = media_kind(p)
                items.append(
                    MediaItem(p, kind)
                    if kind
                    else MediaItem(
                        p,
                        "error",
                        f"not an image or video (extension '{p.suffix or 'none'}'), passed over",
                    )
                )
        elif path.is_file():
            kind = media_kind(path)
            items.append(
                MediaItem(path, kind)
                if kind
                else MediaItem(
                    path,
                    "error",
                    f"not an image or video (extension '{path.suffix or 'none'}'); "
                    f"supported: {known}",
                )
            )
        else:
            items.append(MediaItem(path, "error", "no such file or folder"))
    return items


# -----------------------------------------------------------------------------------------
# reading and cropping (runs in worker processes with --workers)
# -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadOptions:
    frames: int
    face_crop: str
    on_missing: str
    detector: str
    scale: float
    size: int
    device: str | None = None  # of the MTCNN face detector


@dataclass
class LoadedItem:
    """Decoded (and cropped) frames of one item: ``frames`` of ``(index, rgb or None, found)``,
    ``rgb`` None for a frame skipped for having no face; ``found`` None when no detection ran."""

    item: MediaItem
    frames: list[tuple[int | None, np.ndarray | None, bool | None]] = field(default_factory=list)
    error: str = ""
    note: str = ""


_CROPPERS: dict[ReadOptions, Any] = {}


def _cropper(options: ReadOptions):
    from dfshield.media.faces import FaceCropper

    if options not in _CROPPERS:
        _CROPPERS[options] = FaceCropper(
            options.detector,
            options.scale,
            options.size,
            on_missing=options.on_missing,
            device=options.device,
        )
    return _CROPPERS[options]


def load_item(item: MediaItem, options: ReadOptions) -> LoadedItem:
    """Decode an image (``frames.decode_image``, as the dataset) or sample a video's frames, then
    crop faces where ``--face-crop`` says so. Never raises for bad media: returns ``error``."""
    import cv2

    from dfshield.errors import DataError
    from dfshield.media.frames import decode_image
    from dfshield.media.video import frame_count, sample_frames

    loaded = LoadedItem(item)
    try:
        if item.kind == "image":
            data = item.path.read_bytes()
            decoded = [(None, decode_image(data, str(item.path)))]
        else:
            decoded, decodable = sample_frames(item.path, options.frames)
            announced = frame_count(item.path)
            if announced > decodable:
                loaded.note = (
                    f"truncated: {decodable} of {announced} announced frames decode; "
                    f"sampled from those"
                )
        crop = options.face_crop == "always" or (
            options.face_crop == "auto" and item.kind == "video"
        )
        for index, rgb in decoded:
            if crop:
                face, found = _cropper(options).crop(rgb)
                loaded.frames.append((index, face, found))
            else:
                loaded.frames.append((index, rgb, None))
    except (DataError, OSError) as error:
        loaded.error = str(error)
    except cv2.error as error:  # pragma: no cover - decoder failure modes vary
        loaded.error = f"OpenCV could not decode it ({error})"
    return loaded


def load_all(items: list[MediaItem], options: ReadOptions, workers: int) -> Iterator[LoadedItem]:
    """Loaded items in input order, read in ``workers`` processes (0: in this one)."""
    if workers <= 0:
        for item in items:
            yield load_item(item, options)
        return
    import multiprocessing
    from collections import deque

    # a bounded window of items in flight: decoded videos are large, never hold them all
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        window: deque = deque()
        for item in items:
            window.append(pool.submit(load_item, item, options))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


# -----------------------------------------------------------------------------------------
# scoring
# -----------------------------------------------------------------------------------------
def _logit(prob: float) -> float:
    prob = min(max(prob, 1e-12), 1 - 1e-12)
    return math.log(prob / (1 - prob))


def _aggregate(probs: list[float], how: str) -> float:
    return float({"mean": np.mean, "max": np.max, "median": np.median}[how](np.asarray(probs)))


class Predictor:
    """Collects frames and clips into batches, scores them, and makes the output rows."""

    def __init__(self, scorer, batch_size: int, aggregate: str):
        self.scorer, self.batch_size, self.aggregate = scorer, max(1, batch_size), aggregate
        self.pending: list[tuple[Any, dict]] = []  # (tensor, bookkeeping)
        self.rows: list[dict] = []  # in input order; scores filled in when their batch runs

    def add(self, loaded: LoadedItem) -> list[str]:
        """Queue one loaded item; returns the messages to print (``error: ...``, ``warning: ...``)."""
        item, warnings = loaded.item, []
        path = str(item.path)
        if item.kind == "error" or loaded.error:
            message = item.message or loaded.error
            self.rows.append(
                _row(
                    path,
                    item.kind if item.kind != "error" else "other",
                    status="error",
                    message=message,
                )
            )
            return [f"error: {path}: {message}"]
        frames = loaded.frames
        missing = [f for f in frames if f[2] is False]
        if missing:
            action = (
                "skipped" if any(f[1] is None for f in missing) else "scored on the centre square"
            )
            what = "the image" if item.kind == "image" else f"{len(missing)}/{len(frames)} frame(s)"
            warnings.append(f"warning: {path}: no face found in {what}; {action}")
        usable = [f for f in frames if f[1] is not None]
        if not usable:
            if item.kind == "video":
                self.rows += [
                    _row(
                        path,
                        "frame",
                        frame_index=index,
                        face_found=found,
                        status="skipped",
                        message="no face found",
                    )
                    for index, _, found in frames
                ]
            self.rows.append(
                _row(
                    path,
                    item.kind,
                    status="error",
                    face_found=False,
                    message=f"no face found in any of {len(frames)} frame(s); nothing to "
                    f"score (use --on-missing center to score centre squares)",
                )
            )
            return [f"error: {path}: no face found in any of {len(frames)} frame(s); not scored"]
        note = "; ".join(
            filter(
                None,
                [
                    loaded.note,
                    f"no face in {len(missing)}/{len(frames)} frame(s)" if missing else "",
                ],
            )
        )
        if loaded.note:
            warnings.append(f"warning: {path}: {loaded.note}")
        if item.kind == "image":
            _, rgb, found = frames[0]
            head = _row(path, "image", n_frames=1, face_found=found, message=note)
            self.rows.append(head)
            self._queue([rgb], head, [])
            return warnings
        frame_rows = []
        for index, rgb, found in frames:
            row = _row(path, "frame", frame_index=index, face_found=found)
            if rgb is None:
                row.update(status="skipped", message="no face found")
            else:
                frame_rows.append(row)
            self.rows.append(row)
        head = _row(
            path,
            "video",
            n_frames=len(usable),
            face_found=any(f[2] for f in frames) if frames[0][2] is not None else None,
            message=note,
        )
        self.rows.append(head)
        self._queue([f[1] for f in usable], head, frame_rows)
        return warnings

    def _queue(self, images: list[np.ndarray], head: dict, frame_rows: list[dict]) -> None:
        import torch

        from dfshield.media.frames import select_clips

        scorer = self.scorer
        tensors = [scorer.preprocess(image) for image in images]
        head["_parts"] = []
        if scorer.mode == "video":
            # positions as numeric strings: select_clips sorts frame names numerically
            clips = select_clips(
                [str(i) for i in range(len(tensors))], len(tensors), scorer.clip_size
            )
            for clip in clips:
                positions = [int(p) for p in clip]
                part = {"head": head, "positions": positions, "frame_rows": frame_rows}
                head["_parts"].append(part)
                self.pending.append((torch.stack([tensors[p] for p in positions]), part))
        else:
            for position, tensor in enumerate(tensors):
                part = {"head": head, "positions": [position], "frame_rows": frame_rows}
                head["_parts"].append(part)
                self.pending.append((tensor, part))
        if len(self.pending) >= self.batch_size:
            self.flush(full_batches_only=True)

    def flush(self, full_batches_only: bool = False) -> None:
        """Score the queued frames (clips) in batches; the last partial batch too unless
        ``full_batches_only``."""
        import torch

        while len(self.pending) >= (self.batch_size if full_batches_only else 1):
            chunk, self.pending = self.pending[: self.batch_size], self.pending[self.batch_size :]
            out = self.scorer.score_tensors(torch.stack([tensor for tensor, _ in chunk]))
            for k, (_, part) in enumerate(chunk):
                part["logit"], part["prob"] = float(out["logit"][k]), float(out["prob"][k])
                if "frame_prob" in out:
                    part["frame_logit"] = out["frame_logit"][k].tolist()
                    part["frame_prob"] = out["frame_prob"][k].tolist()
                head = part["head"]
                if "_parts" in head and all("prob" in p for p in head["_parts"]):
                    self._finish(head)

    def _finish(self, head: dict) -> None:
        """All parts of an item are scored: fill its frame rows and its image/video row."""
        parts = head.pop("_parts")
        threshold = self.scorer.threshold
        frame_rows = parts[0]["frame_rows"]
        if self.scorer.mode == "video":
            # frame head per frame (averaged over the clips a repeated frame falls in)
            per_frame: dict[int, list[tuple[float, float]]] = {}
            for part in parts:
                for position, logit, prob in zip(
                    part["positions"], part["frame_logit"], part["frame_prob"]
                ):
                    per_frame.setdefault(position, []).append((logit, prob))
            for position, row in enumerate(frame_rows):
                values = per_frame.get(position)
                if not values:  # as in the dataset, frames beyond whole clips are left out
                    row.update(
                        status="skipped",
                        message=f"outside the clip(s) of {self.scorer.clip_size} "
                        f"frames (use a multiple of it for --frames)",
                    )
                    continue
                prob = float(np.mean([p for _, p in values]))
                _score(row, float(np.mean([lg for lg, _ in values])), prob, threshold)
            clip_probs = [part["prob"] for part in parts]
            prob = _aggregate(clip_probs, self.aggregate)
            logit = parts[0]["logit"] if len(parts) == 1 else _logit(prob)
            head["message"] = "; ".join(
                filter(None, [head.get("message"), f"video head, {len(parts)} clip(s)"])
            )
        else:
            for part, row in zip(parts, frame_rows):
                _score(row, part["logit"], part["prob"], threshold)
            if head["kind"] == "image":
                prob, logit = parts[0]["prob"], parts[0]["logit"]
            else:
                prob = _aggregate([part["prob"] for part in parts], self.aggregate)
                logit = _logit(prob)
        _score(head, logit, prob, threshold)


def _row(
    path: str,
    kind: str,
    *,
    frame_index=None,
    n_frames=None,
    face_found=None,
    status: str = "ok",
    message: str = "",
) -> dict:
    return {
        "path": path,
        "kind": kind,
        "frame_index": frame_index,
        "n_frames": n_frames,
        "logit": None,
        "prob_fake": None,
        "decision": None,
        "face_found": face_found,
        "status": status,
        "message": message,
    }


def _score(row: dict, logit: float, prob: float, threshold) -> None:
    row.update(logit=float(logit), prob_fake=float(prob), decision=threshold.decide(prob))


# -----------------------------------------------------------------------------------------
# output
# -----------------------------------------------------------------------------------------
def format_rows(rows: list[dict], show_frames: bool = False) -> str:
    """The terminal table: one line per image, video and error (and frame with ``show_frames``)."""
    header = ["path", "kind", "frame", "frames", "P(fake)", "decision", "face", "note"]
    lines = [header]
    for row in rows:
        if row["kind"] == "frame" and not show_frames:
            continue
        face = "" if row["face_found"] is None else ("yes" if row["face_found"] else "no")
        lines.append(
            [
                row["path"],
                row["kind"] or "?",
                "" if row["frame_index"] is None else str(row["frame_index"]),
                "" if row["n_frames"] is None else str(row["n_frames"]),
                "" if row["prob_fake"] is None else f"{row['prob_fake']:.4f}",
                row["decision"] or row["status"],
                face,
                _shorten(row["message"]),
            ]
        )
    widths = [max(len(line[k]) for line in lines) for k in range(len(header) - 1)]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if k in (0, 1, 5, 6) else c.rjust(w)
            for k, (c, w) in enumerate(zip(line, widths))
        ]
        out.append("  ".join(cells + [line[-1]]).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths) + "  ----")
    return "\n".join(out)


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_rows(path: Path, rows: list[dict], meta: dict) -> None:
    """``.json``: ``{**meta, "rows": [...]}``; otherwise CSV with :data:`COLUMNS` (empty = none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: (
                        ""
                        if row[k] is None
                        else (f"{row[k]:.6f}" if isinstance(row[k], float) else row[k])
                    )
                    for k in COLUMNS
                }
            )


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from dfshield.engine.progress import progress_bar
    from dfshield.errors import ConfigError
    from dfshield.eval.inference import Scorer

    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.out and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--out {args.out}: name a .csv or .json file")
    scorer = Scorer.from_checkpoint(args.checkpoint, device=args.device, threshold=args.threshold)
    threshold = scorer.threshold
    items = discover(args.inputs)
    options = ReadOptions(
        args.frames,
        args.face_crop,
        args.on_missing,
        args.face_detector,
        args.scale,
        args.size,
        device=str(scorer.device) if args.face_detector == "mtcnn" else None,
    )
    predictor = Predictor(scorer, args.batch_size, args.aggregate)
    media = [item for item in items if item.kind != "error"]
    bar = progress_bar(
        total=len(media), enabled=not args.no_progress, desc="predicting", unit="file"
    )
    loaded_media = iter(load_all(media, options, args.workers))
    for item in items:  # keep the input order, errors included
        loaded = LoadedItem(item) if item.kind == "error" else next(loaded_media)
        for warning in predictor.add(loaded):
            tqdm.write(warning, file=sys.stderr)
        if item.kind != "error":
            bar.update(1)
    predictor.flush()
    bar.close()
    rows = predictor.rows
    print(
        f"{scorer.name} ({args.checkpoint}): fake when P(fake) >= {threshold.value:.4f} "
        f"(threshold rule '{threshold.rule}', {threshold.chosen_on})"
    )
    print(format_rows(rows, args.show_frames))
    scored = [r for r in rows if r["kind"] in ("image", "video") and r["prob_fake"] is not None]
    errors = [r for r in rows if r["status"] == "error"]
    print(
        f"scored {sum(r['kind'] == 'image' for r in scored)} image(s) and "
        f"{sum(r['kind'] == 'video' for r in scored)} video(s) "
        f"({sum(r['kind'] == 'frame' and r['prob_fake'] is not None for r in rows)} video frames); "
        f"{len(errors)} item(s) could not be scored"
    )
    if args.out:
        meta = {
            "checkpoint": str(args.checkpoint),
            "detector": scorer.name,
            "threshold": threshold.as_dict(),
            "aggregate": args.aggregate,
            "face_crop": args.face_crop,
            "frames": args.frames,
            "video_score": (
                "video head" if scorer.mode == "video" else f"{args.aggregate} frame probability"
            ),
        }
        write_rows(Path(args.out), rows, meta)
        print(f"rows: {args.out}")
    if not scored:
        print("error: nothing could be scored (see the messages above)", file=sys.stderr)
        return 1
    return 0
