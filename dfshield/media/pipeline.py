"""The one media pipeline: an image or video file → sampled RGB frames, each framed for a detector.

``build-lmdb`` and ``predict`` both read through :class:`MediaStream`, so a detector is scored on
frames made as its training frames were; bad media lands in ``errors``, never raises.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, DataError
from dfshield.media.faces import FaceCropper, center_crop
from dfshield.media.frames import DEFAULT_MAX_PIXELS, decode_image
from dfshield.media.video import VIDEO_EXTENSIONS, SampledVideo, sample_frame_indices

#: File extensions read as images (lower case, with the dot).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
FRAMINGS = ("face", "center", "none")

J = TypeVar("J")
R = TypeVar("R")


def media_kind(path: Path) -> str | None:
    """``image`` or ``video`` by file extension, else None."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


@dataclass(frozen=True)
class MediaOptions:
    """How a :class:`MediaStream` samples and frames: ``face`` (largest face × ``scale``),
    ``center`` or ``none`` (as decoded); ``size`` 0 keeps the size; ``transform`` must pickle."""

    frames: int = 32
    image_framing: str = "center"
    video_framing: str = "face"
    detector: str = "haar"
    scale: float = 1.3
    size: int = 256
    on_missing: str = "skip"
    device: str | None = None  # of the MTCNN face detector
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if int(self.frames) < 1:
            raise ConfigError(f"--frames must be at least 1, got {self.frames}.")
        if self.max_pixels is not None and int(self.max_pixels) < 1:
            raise ConfigError(f"--max-pixels must be at least 1, got {self.max_pixels}.")
        if int(self.size) < 0:
            raise ConfigError(f"--size must be >= 0 (0 keeps images as they are), got {self.size}.")
        for framing in (self.image_framing, self.video_framing):
            if framing not in FRAMINGS:
                raise ConfigError(
                    f"Unknown framing {framing!r}; choose one of {', '.join(FRAMINGS)}."
                    + did_you_mean(framing, FRAMINGS)
                )
        face_cropper(self)  # checks detector, scale and on_missing now, not in a worker

    @property
    def uses_faces(self) -> bool:
        return "face" in (self.image_framing, self.video_framing)


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its index (or image stem), framed RGB (``None``: skipped), face found."""

    index: int
    rgb: np.ndarray | None
    face_found: bool | None


@dataclass
class MediaFrames:
    """What :func:`read_media` read from one item; iterating it gives its frames."""

    kind: str  # "image" | "video"
    frames: list[Frame] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, message)
    note: str = ""  # e.g. a truncated video

    def __iter__(self) -> Iterator[Frame | None]:
        return iter(self.frames)


_CROPPERS: dict[tuple, FaceCropper] = {}


def face_cropper(options: MediaOptions) -> FaceCropper:
    """The (per process cached) face cropper of ``options``."""
    key = (options.detector, options.scale, options.size, options.on_missing, options.device)
    if key not in _CROPPERS:
        _CROPPERS[key] = FaceCropper(*key[:4], device=options.device)
    return _CROPPERS[key]


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """An image file as RGB uint8, decoded as dataset frames, turned upright by its EXIF tag (phone
    portraits); one over ``max_pixels`` is refused from its header."""
    return decode_image(
        path.read_bytes(),
        str(path),
        exif_orientation=True,
        max_pixels=max_pixels,
        option="--max-pixels",
    )


def _image_index(paths: Sequence[Path], position: int) -> int:
    """Frame index of an image: its numeric stem if all are distinct numbers, else position."""
    stems = [p.stem for p in paths]
    if all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return int(paths[position].stem)
    return position


def _frame(
    rgb: np.ndarray, framing: str, options: MediaOptions
) -> tuple[np.ndarray | None, bool | None]:
    if framing == "face":
        return face_cropper(options).crop(rgb)
    if framing == "center" and options.size:
        return center_crop(rgb, options.size), None
    return rgb, None


class MediaStream:
    """One video (or images as its frames) sampled evenly, yielding one framed :class:`Frame` at a
    time, or ``None`` when a truncated video is resampled (forget the frames so far)."""

    def __init__(self, paths: Path | Sequence[Path], options: MediaOptions) -> None:
        paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        self.paths, self.options = paths, options
        self.kind = "video" if len(paths) == 1 and media_kind(paths[0]) == "video" else "image"
        self.errors: list[tuple[str, str]] = []  # (file, message)
        self.note = ""

    def __iter__(self) -> Iterator[Frame | None]:
        options = self.options
        framing = options.video_framing if self.kind == "video" else options.image_framing
        try:
            for decoded in self._decoded():
                if decoded is None:
                    yield None
                    continue
                index, rgb = decoded
                if options.transform is not None:
                    rgb = options.transform(rgb)
                framed, found = _frame(rgb, framing, options)
                yield Frame(index, framed, found)
        except (DataError, OSError) as error:
            self.errors.append((str(self.paths[0]), str(error)))
        except cv2.error as error:  # pragma: no cover - decoder failure modes vary
            self.errors.append((str(self.paths[0]), f"OpenCV could not decode it ({error})"))

    def _decoded(self) -> Iterator[tuple[int, np.ndarray] | None]:
        paths, n = self.paths, self.options.frames
        if self.kind == "video":
            video = SampledVideo(paths[0], n, self.options.max_pixels)
            yield from video
            if video.announced > video.total:
                self.note = (
                    f"truncated: {video.total} of {video.announced} announced frames decode; "
                    "sampled from those"
                )
            return
        chosen = sample_frame_indices(len(paths), n) if len(paths) > 1 else [0]
        for position in chosen:
            try:
                yield (
                    _image_index(paths, position),
                    read_image(paths[position], self.options.max_pixels),
                )
            except (DataError, OSError) as error:  # one bad image does not lose the others
                self.errors.append((str(paths[position]), str(error)))


def read_media(paths: Path | Sequence[Path], options: MediaOptions) -> MediaFrames:
    """A :class:`MediaStream` read to the end, all frames held (short items, worker processes)."""
    stream = MediaStream(paths, options)
    frames: list[Frame] = []
    for frame in stream:
        if frame is None:
            frames.clear()
        else:
            frames.append(frame)
    return MediaFrames(stream.kind, frames, stream.errors, stream.note)


def _worker_init(parent: int) -> None:
    cv2.setNumThreads(1)  # one item per process: OpenCV's own threads would only compete
    _die_with(parent)


def _die_with(parent: int) -> None:
    """On Linux, have the kernel kill this worker (no orphans of ``kill -9``) when the *thread* that
    started it ends: feed the pool from a long-lived (the main) thread."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0):
        return  # not granted: the worker ends with the pool as before
    if os.getppid() != parent:  # the parent died before the request: what the signal would do
        os.kill(os.getpid(), signal.SIGKILL)


def map_in_workers(
    function: Callable[[J], R], jobs: Iterable[J], workers: int
) -> Generator[R, None, None]:
    """``function(job)`` per job, in input order, in ``workers`` processes (0: inline), at most
    ``2 × workers`` in flight; close or exhaust the iterator to stop them."""
    if workers <= 0:
        yield from map(function, jobs)
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    try:
        window: deque = deque()
        for job in jobs:
            window.append(pool.submit(function, job))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)
