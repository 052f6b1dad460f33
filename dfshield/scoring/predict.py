"""Scoring images, folders and videos with a trained checkpoint (``dfshield predict``).

Media are read and cropped as ``build-lmdb`` does and scored in batches as frames arrive; a bad
item gets an ``error`` row, exit 1 only when nothing scored (docs/predict-and-robustness.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dfshield.errors import CheckpointError, ConfigError
from dfshield.media.pipeline import (
    DEFAULT_MAX_PIXELS,
    Frame,
    MediaFrames,
    MediaOptions,
    MediaStream,
    face_cropper,
    map_in_workers,
    read_media,
)
from dfshield.scoring.media_inputs import MediaItem, discover, printable

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
#: The message of a row the detector scored as NaN.
NON_FINITE = (
    "the detector gave a non-finite score (NaN): the checkpoint's weights are probably damaged; "
    "retrain, or use another checkpoint"
)
FACE_CROP = ("auto", "always", "never")
# --face-crop -> (image framing, video framing) of the media pipeline
_FRAMINGS = {"auto": ("none", "face"), "always": ("face", "face"), "never": ("none", "none")}


@dataclass(frozen=True)
class PredictOptions:
    """How media are read and scored; checked when made (before any checkpoint is loaded)."""

    frames: int = 32
    aggregate: str = "mean"
    face_crop: str = "auto"
    on_missing: str = "center"
    face_detector: str = "haar"
    scale: float = 1.3
    size: int = 256
    batch_size: int = 32
    workers: int = 0
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"--aggregate {self.aggregate}: choose one of {AGGREGATES}")
        if self.face_crop not in FACE_CROP:
            raise ConfigError(f"--face-crop {self.face_crop}: choose one of {FACE_CROP}")
        self.media_options()  # checks frames and the face options

    def media_options(self, device: str | None = None) -> MediaOptions:
        """The media pipeline's options (``device``: of the MTCNN face detector)."""
        image_framing, video_framing = _FRAMINGS[self.face_crop]
        return MediaOptions(
            self.frames,
            image_framing=image_framing,
            video_framing=video_framing,
            detector=self.face_detector,
            scale=self.scale,
            size=self.size,
            on_missing=self.on_missing,
            device=device,
            max_pixels=self.max_pixels,
        )


# -----------------------------------------------------------------------------------------
# scoring
# -----------------------------------------------------------------------------------------
def predict_media(
    scorer,
    inputs: Sequence[str | Path],
    options: PredictOptions,
    *,
    progress: bool = False,
    warn: Callable[[str], None] | None = None,
) -> list[dict]:
    """Score every image and video in ``inputs``: :data:`COLUMNS` rows in input order, one per
    image, video, frame and unscorable input (``error``); CheckpointError for a bad threshold."""
    from dfshield.progress import progress_bar, write_above_bars

    warn = warn or write_above_bars
    check_threshold(scorer.threshold, scorer.checkpoint)
    items = discover([str(path) for path in inputs])
    device = str(scorer.device) if options.face_detector == "mtcnn" else None
    media_options = options.media_options(device)
    readable = [item for item in items if item.kind != "error"]
    if _needs_faces(readable, media_options):
        face_cropper(media_options).load()  # a missing face detector fails before any work
    predictor = Predictor(scorer, options.batch_size, options.aggregate)
    bar = progress_bar(total=len(readable), enabled=progress, desc="predicting", unit="file")
    loaded: Generator[MediaFrames | MediaStream, None, None]
    if options.workers > 0:
        read = partial(read_media, options=media_options)
        loaded = map_in_workers(read, [item.path for item in readable], options.workers)
    else:
        loaded = (MediaStream(item.path, media_options) for item in readable)
    try:
        for item in items:  # keep the input order, errors included
            media = MediaFrames(item.kind) if item.kind == "error" else next(loaded)
            for message in predictor.add(item, media):
                warn(message)
            if item.kind != "error":
                bar.update(1)
    finally:
        loaded.close()
    predictor.flush()
    bar.close()
    failed = sum(row["message"] == NON_FINITE for row in predictor.rows if row["kind"] != "frame")
    if failed:
        warn(f"error: {failed} item(s) not scored: {NON_FINITE}")
    return predictor.rows


def check_threshold(threshold, checkpoint) -> None:
    """Refuse a threshold that is not a probability (NaN would call every item real)."""
    if math.isfinite(threshold.value) and 0.0 <= threshold.value <= 1.0:
        return
    raise CheckpointError(
        f"the decision threshold of {printable(str(checkpoint))} is {threshold.value} (rule "
        f"'{threshold.rule}', {threshold.chosen_on}), not a probability: the stored threshold is "
        "damaged. Pass --threshold with a probability such as 0.5, or retrain."
    )


def _needs_faces(items: list[MediaItem], options: MediaOptions) -> bool:
    return any(
        (options.video_framing if item.kind == "video" else options.image_framing) == "face"
        for item in items
    )


def _logit(prob: float) -> float:
    prob = min(max(prob, 1e-12), 1 - 1e-12)
    return math.log(prob / (1 - prob))


def _aggregate(probs: list[float], how: str) -> float:
    functions: dict[str, Callable[[np.ndarray], Any]] = {
        "mean": np.mean,
        "max": np.max,
        "median": np.median,
    }
    return float(functions[how](np.asarray(probs)))


class _Item:
    """One image or video while its frames arrive, are queued and are scored."""

    def __init__(self, path: str, kind: str):
        self.path, self.kind = path, kind
        self.head = _row(path, kind)
        self.frames: list[dict] = []  # video: a row per sampled frame, in order
        self.scored: list[dict | None] = []  # rows of the frames that get a score (None: image)
        self.faces: list[bool | None] = []  # face found, per sampled frame
        self.tensors: list[Any] = []  # video mode: preprocessed frames until the item ends
        self.parts: list[dict] = []  # queued frames (clips) with their scores once run
        self.open, self.done = True, False


class Predictor:
    """Queues frames (clips) as they arrive, scores them in batches, and makes the output rows."""

    def __init__(self, scorer, batch_size: int, aggregate: str):
        self.scorer, self.batch_size, self.aggregate = scorer, max(1, batch_size), aggregate
        self.pending: list[tuple[Any, dict]] = []  # (tensor, part)
        self.rows: list[dict] = []  # in input order; scores filled in when their batch runs

    def add(self, item: MediaItem, media: MediaStream | MediaFrames) -> list[str]:
        """Read one item, queueing each frame as it arrives; returns the messages to print."""
        path = printable(str(item.path))
        if item.kind == "error":
            self.rows.append(_row(path, "other", status="error", message=item.message))
            return [f"error: {path}: {item.message}"]
        entry = _Item(path, item.kind)
        for frame in media:
            if frame is None:  # a truncated video is sampled again: forget what came so far
                self._drop(entry)
                entry = _Item(path, item.kind)
            else:
                self._take(entry, frame)
        entry.open = False
        if media.errors:
            self._drop(entry)
            message = printable(media.errors[0][1])
            self.rows.append(_row(path, item.kind, status="error", message=message))
            return [f"error: {path}: {message}"]
        if not entry.scored:
            return self._add_faceless(entry)
        return self._close(entry, media.note)

    def _take(self, entry: _Item, frame: Frame) -> None:
        entry.faces.append(frame.face_found)
        row = None
        if entry.kind == "video":
            row = _row(entry.path, "frame", frame_index=frame.index, face_found=frame.face_found)
            if frame.rgb is None:
                row.update(status="skipped", message="no face found")
            entry.frames.append(row)
        if frame.rgb is None:
            return
        entry.scored.append(row)
        tensor = self.scorer.preprocess(frame.rgb)
        if self.scorer.mode == "video":  # clips are chosen over the whole video: at its end
            entry.tensors.append(tensor)
        else:
            self._queue(tensor, {"item": entry, "row": row})

    def _queue(self, tensor, part: dict) -> None:
        part["item"].parts.append(part)
        self.pending.append((tensor, part))
        if len(self.pending) >= self.batch_size:
            self.flush(full_batches_only=True)

    def _drop(self, entry: _Item) -> None:
        entry.done = True  # never finished: its queued frames are not scored
        self.pending = [
            (tensor, part) for tensor, part in self.pending if part["item"] is not entry
        ]

    def _close(self, entry: _Item, note: str) -> list[str]:
        """All frames arrived: fill the head row, queue clips (video mode), finish if scored."""
        faces, used = entry.faces, len(entry.scored)
        missing = sum(found is False for found in faces)
        warnings = []
        if missing:
            action = "skipped" if used < len(faces) else "scored on the centre square"
            what = "the image" if entry.kind == "image" else f"{missing}/{len(faces)} frame(s)"
            warnings.append(f"warning: {entry.path}: no face found in {what}; {action}")
        if note:
            warnings.append(f"warning: {entry.path}: {note}")
        counted = f"no face in {missing}/{len(faces)} frame(s)" if missing else ""
        detected = faces[0] is not None
        entry.head.update(
            n_frames=1 if entry.kind == "image" else used,
            face_found=(any(faces) if detected else None) if entry.kind == "video" else faces[0],
            message="; ".join(filter(None, [note, counted])),
        )
        self.rows += [*entry.frames, entry.head]
        if self.scorer.mode == "video":
            self._queue_clips(entry)
        self._finish_if_scored(entry)
        return warnings

    def _queue_clips(self, entry: _Item) -> None:
        import torch

        from dfshield.media.frames import select_clips

        tensors, entry.tensors = entry.tensors, []
        # positions as numeric strings: select_clips sorts frame names numerically
        for clip in select_clips(
            [str(i) for i in range(len(tensors))], len(tensors), self.scorer.clip_size
        ):
            positions = [int(p) for p in clip]
            self._queue(
                torch.stack([tensors[p] for p in positions]),
                {"item": entry, "positions": positions},
            )

    def _add_faceless(self, entry: _Item) -> list[str]:
        """Rows of an item none of whose frames has a face (``on_missing="skip"``)."""
        count = len(entry.faces)
        message = (
            f"no face found in any of {count} frame(s); nothing to score "
            f"(use --on-missing center to score centre squares)"
        )
        head = _row(entry.path, entry.kind, status="error", face_found=False, message=message)
        self.rows += [*entry.frames, head]
        return [f"error: {entry.path}: no face found in any of {count} frame(s); not scored"]

    def flush(self, full_batches_only: bool = False) -> None:
        """Score queued frames in batches; the last partial one too unless ``full_batches_only``."""
        import torch

        while len(self.pending) >= (self.batch_size if full_batches_only else 1):
            chunk, self.pending = self.pending[: self.batch_size], self.pending[self.batch_size :]
            out = self.scorer.score_tensors(torch.stack([tensor for tensor, _ in chunk]))
            for k, (_, part) in enumerate(chunk):
                part["logit"], part["prob"] = float(out["logit"][k]), float(out["prob"][k])
                if "frame_prob" in out:
                    part["frame_logit"] = out["frame_logit"][k].tolist()
                    part["frame_prob"] = out["frame_prob"][k].tolist()
                self._finish_if_scored(part["item"])

    def _finish_if_scored(self, entry: _Item) -> None:
        if entry.open or entry.done or not all("prob" in part for part in entry.parts):
            return
        entry.done = True
        self._finish(entry)

    def _finish(self, entry: _Item) -> None:
        """All parts of an item are scored: fill its frame rows and its image/video row."""
        parts, head = entry.parts, entry.head
        threshold = self.scorer.threshold
        if self.scorer.mode == "video":
            # frame head per frame (averaged over the clips a repeated frame falls in)
            per_frame: dict[int, list[tuple[float, float]]] = {}
            for part in parts:
                for position, logit, prob in zip(
                    part["positions"], part["frame_logit"], part["frame_prob"]
                ):
                    per_frame.setdefault(position, []).append((logit, prob))
            for position, row in enumerate(entry.scored):
                values = per_frame.get(position)
                if row is None:
                    continue
                if not values:  # as in the dataset, frames beyond whole clips are left out
                    row.update(
                        status="skipped",
                        message=f"outside the clip(s) of {self.scorer.clip_size} "
                        f"frames (use a multiple of it for --frames)",
                    )
                    continue
                prob = float(np.mean([p for _, p in values]))
                _score(row, float(np.mean([lg for lg, _ in values])), prob, threshold)
            prob = _aggregate([part["prob"] for part in parts], self.aggregate)
            logit = parts[0]["logit"] if len(parts) == 1 else _logit(prob)
            head["message"] = "; ".join(
                filter(None, [head.get("message"), f"video head, {len(parts)} clip(s)"])
            )
        else:
            for part in parts:
                if part["row"] is not None:
                    _score(part["row"], part["logit"], part["prob"], threshold)
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
        "path": printable(path),
        "kind": kind,
        "frame_index": frame_index,
        "n_frames": n_frames,
        "logit": None,
        "prob_fake": None,
        "decision": None,
        "face_found": face_found,
        "status": status,
        "message": printable(message),
    }


def _score(row: dict, logit: float, prob: float, threshold) -> None:
    if math.isnan(logit) or not math.isfinite(prob):
        row.update(status="error", message=NON_FINITE)
        return
    row.update(logit=float(logit), prob_fake=float(prob), decision=threshold.decide(prob))
