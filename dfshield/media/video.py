"""Reading video frames with OpenCV: even frame sampling and streamed decoding, one frame held.

Frames are RGB ``uint8`` (H, W, 3) with their 0-based index. Decoding is sequential (``grab``
all, ``retrieve`` the wanted): as fast as seeking here, exact on every codec, truncation noticed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from dfshield.errors import ConfigError, DataError

#: File extensions treated as videos by the dataset builder (lower case, with the dot).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
)


def sample_frame_indices(n_total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``[0, n_total - 1]``, ends included (all if n_total <= n),
    as DeepfakeBench's preprocessing (``np.linspace``), not its loader (the first ``n``)."""
    n_total, n = int(n_total), int(n)
    if n < 1:
        raise ConfigError(
            f"Number of frames to sample must be at least 1, got {n}. Pass a positive count."
        )
    if n_total <= 0:
        return []
    if n >= n_total:
        return list(range(n_total))
    indices = np.linspace(0, n_total - 1, n, dtype=np.int64)
    # linspace with n <= n_total yields strictly increasing integers; keep the guarantee explicit
    return sorted(set(int(i) for i in indices))


def _open(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise DataError(
            f"Video file not found: {path}. Check the path (and the dataset's metadata)."
        )
    if not path.is_file():
        raise DataError(
            f"Not a video file: {path} is a {'folder' if path.is_dir() else 'special file'}."
        )
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(
            f"Cannot open video {path}: OpenCV could not read the container (corrupt, truncated, "
            "empty or an unsupported codec). Re-download or re-encode it (e.g. to H.264 MP4), or "
            "remove it from the source."
        )
    return cap


def frame_count(path: str | Path) -> int:
    """Frames the container header announces (0 if unknown; may be wrong for damaged files)."""
    cap = _open(Path(path))
    try:
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    return int(n) if n and n > 0 else 0


def iter_frames(path: str | Path, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` for the ``indices`` that exist, in order; raises DataError when the
    file is missing, cannot be opened or decodes no frame."""
    yield from _Decoder(Path(path), indices)


class _Decoder:
    """:func:`iter_frames`, remembering ``decoded`` (frames grabbed) and ``complete``."""

    def __init__(self, path: Path, indices: Sequence[int], max_pixels: int | None = None) -> None:
        self.path, self.max_pixels = path, max_pixels
        self.wanted = sorted(set(int(i) for i in indices))
        if any(i < 0 for i in self.wanted):
            raise ConfigError(f"Frame indices must be >= 0, got {self.wanted[0]} for {path}.")
        self.decoded, self.complete = 0, False

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if not self.wanted:
            self.complete = True
            return
        cap = _open(self.path)
        yielded = 0
        want = set(self.wanted)
        try:
            check_pixels(
                self.path,
                int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                self.max_pixels,
            )
            while self.decoded <= self.wanted[-1]:
                if not cap.grab():
                    break
                position = self.decoded
                self.decoded += 1
                if position in want:
                    ok, bgr = cap.retrieve()
                    if ok and bgr is not None and bgr.size:
                        if bgr.ndim == 2:
                            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
                        yielded += 1
                        yield position, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        except cv2.error as exc:  # pragma: no cover - depends on the codec's failure mode
            if not yielded:
                raise DataError(
                    f"Decoding {self.path} failed: {exc}. The file is probably corrupt; re-encode "
                    "or remove it."
                ) from exc
        finally:
            cap.release()
        self.complete = yielded == len(self.wanted)
        if not yielded:
            what = (
                "no frame could be decoded"
                if not self.decoded
                else f"none of frames {self.wanted[:5]}... exist"
            )
            raise DataError(
                f"Cannot read frames from video {self.path}: {what} (the file is empty, truncated "
                "or corrupt). Re-download or re-encode it, or remove it from the source."
            )


def check_pixels(
    path: str | Path,
    width: int,
    height: int,
    max_pixels: int | None,
    option: str = "--max-pixels",
) -> None:
    """Refuse a frame over ``max_pixels`` before decoding (a huge one would take gigabytes)."""
    if max_pixels is None or width * height <= max_pixels:
        return
    raise DataError(
        f"{path} is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), more than "
        f"the limit of {max_pixels / 1e6:g} megapixels ({option} {max_pixels}); decoding it "
        f"would take about {3 * width * height / 2**30:.1f} GiB. Downscale it first, or raise "
        f"{option}."
    )


def count_decodable_frames(path: str | Path) -> int:
    """Count the frames that really decode (slow: reads the whole file). 0 when none does."""
    cap = _open(Path(path))
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


class SampledVideo:
    """``n`` frames sampled evenly over the frames of a video that decode, one at a time.

    A file shorter than its header yields ``None`` once (forget the frames so far), then frames
    resampled over what decodes (``announced``, ``total``). Raises :class:`DataError` when nothing
    decodes or a frame exceeds ``max_pixels``.
    """

    def __init__(self, path: str | Path, n: int, max_pixels: int | None = None) -> None:
        self.path, self.n, self.max_pixels = Path(path), int(n), max_pixels
        self.announced = self.total = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray] | None]:
        self.announced = self.total = frame_count(self.path)
        if self.total > 0:
            decoder = _Decoder(self.path, sample_frame_indices(self.total, self.n), self.max_pixels)
            received = 0
            try:
                for frame in decoder:
                    received += 1
                    yield frame
            except DataError:
                if not decoder.decoded:
                    raise  # unreadable (or too large) before any frame: resampling cannot help
            if decoder.complete:
                return
            if received:
                yield None
            stopped_early = decoder.decoded <= decoder.wanted[-1]
            self.total = decoder.decoded if stopped_early else count_decodable_frames(self.path)
        else:
            self.total = count_decodable_frames(self.path)
        if self.total == 0:
            raise DataError(
                f"Cannot read frames from video {self.path}: no frame could be decoded (the file "
                "is empty, truncated or corrupt). Re-download or re-encode it, or remove it from "
                "the source."
            )
        indices = sample_frame_indices(self.total, self.n)
        yield from _Decoder(self.path, indices, self.max_pixels)
