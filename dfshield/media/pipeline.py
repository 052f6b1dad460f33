"""The one media pipeline: an image or video file → sampled RGB frames, each framed for a detector.

``dfshield build-lmdb`` (and so the extra test folders, which go through the builder) and
``dfshield predict`` both read through :class:`MediaStream`, so that a detector is scored on
frames made exactly as its training frames were: the same decoder, the same even frame sampling
(:class:`~dfshield.media.video.SampledVideo`) and the same
:class:`~dfshield.media.faces.FaceCropper`.

What happens to each decoded frame is its *framing*, chosen per kind of file
(:class:`MediaOptions`):

* ``"face"``   — the largest face, box × ``scale``, resized to ``size`` (``on_missing`` decides
  what a frame without a face becomes: ``None`` to skip it, or its centre square);
* ``"center"`` — the largest centred square resized to ``size`` (``size`` 0: the frame as decoded);
* ``"none"``   — the frame as decoded (the detector's own preprocessing resizes it).

Frames are *streamed*: a :class:`MediaStream` decodes, samples and frames one frame at a time
as it is iterated, so a consumer that handles each frame before asking for the next (``predict``
scores it, ``build-lmdb`` PNG-encodes it) holds one decoded frame however many it samples.
:func:`read_media` collects a stream into a :class:`MediaFrames` list for short items and for
worker processes. An image or video frame over ``max_pixels`` is refused before it is decoded.

Bad media never raises here: what cannot be read is returned in ``errors``, so a batch of files
is never stopped by one of them. :func:`map_in_workers` runs the per-item work in worker
processes, in input order.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

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
    """``image`` or ``video`` by file extension, else None (what build-lmdb and predict read)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


@dataclass(frozen=True)
class MediaOptions:
    """How a :class:`MediaStream` samples and frames.

    ``frames``: frames sampled evenly per video (and per group of images read as one video).
    ``transform``: applied to every decoded frame before framing (build-lmdb's ``--reencode``);
    it must be picklable when items are read in worker processes. ``max_pixels``: larger images
    and video frames are refused before decoding (``None``: no limit).
    """

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


class Frame(NamedTuple):
    """One sampled frame: its index in the video (or the image's numeric stem, else its position),
    the framed RGB array (``None``: no face and ``on_missing="skip"``), and whether a face was
    found (``None``: no face detection ran on it)."""

    index: int
    rgb: np.ndarray | None
    face_found: bool | None


@dataclass
class MediaFrames:
    """What :func:`read_media` read from one item; iterating it gives its frames, as iterating
    its :class:`MediaStream` does."""

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
    """An image file as RGB uint8, decoded as the dataset decodes frames
    (:func:`~dfshield.media.frames.decode_image`), turned upright by its EXIF orientation: phones
    store portrait photos as landscape pixels plus a tag, and a face detector needs them upright.
    An image over ``max_pixels`` is refused from its header, before decoding."""
    return decode_image(
        path.read_bytes(),
        str(path),
        exif_orientation=True,
        max_pixels=max_pixels,
        option="--max-pixels",
    )


def _image_index(paths: Sequence[Path], position: int) -> int:
    """Frame index of an image read as a frame: the numeric file stems when all are distinct
    numbers (frames already extracted as ``000.png``, ``005.png`` ...), else the position."""
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
    """One video file, or image files read as the frames of one video (a single image is a
    one-frame video): ``options.frames`` of them sampled evenly and framed, one at a time.

    Iterating yields :class:`Frame` objects as they are decoded, and ``None`` when a video turned
    out truncated and is sampled again over the frames that decode: forget the frames received
    so far (:class:`~dfshield.media.video.SampledVideo`). Never raises for bad media: what cannot
    be read ends the stream and is listed in ``errors``; ``note`` says what was odd (a truncated
    video). Both are complete once the stream is exhausted.
    """

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
    """A :class:`MediaStream` read to the end into a :class:`MediaFrames` (every frame held at
    once: for short items and for worker processes, which return whole items).

    Never raises for bad media: unreadable files are in the result's ``errors``.
    """
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
    """On Linux, have the kernel kill this worker when its parent dies: a ``kill -9`` of the
    command would otherwise leave its workers (each holding a decoded video) running for good.
    The signal comes when the *thread* that started the worker ends, so the pool must be fed
    from a thread that lives as long as the work (the main thread, as in every command)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0):
        return  # not granted: the worker ends with the pool as before
    if os.getppid() != parent:  # the parent died before the request: what the signal would do
        os.kill(os.getpid(), signal.SIGKILL)


def map_in_workers(function: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    """``function(job)`` for every job, in input order, in ``workers`` spawned processes (0: in
    this one). At most ``2 × workers`` jobs are in flight: decoded videos are large, and a
    consumer that stops early leaves little work behind. Close the iterator (or exhaust it) to
    stop the workers; on Linux they also die with this process (:func:`_die_with`)."""
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
