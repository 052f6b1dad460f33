"""The one media pipeline: an image or video file → sampled RGB frames, each framed for a detector.

``dfshield build-lmdb`` (and so the extra test folders, which go through the builder) and
``dfshield predict`` both call :func:`read_media`, so that a detector is scored on frames made
exactly as its training frames were: the same decoder, the same even frame sampling
(:func:`~dfshield.media.video.sample_frames`) and the same
:class:`~dfshield.media.faces.FaceCropper`.

What happens to each decoded frame is its *framing*, chosen per kind of file
(:class:`MediaOptions`):

* ``"face"``   — the largest face, box × ``scale``, resized to ``size`` (``on_missing`` decides
  what a frame without a face becomes: ``None`` to skip it, or its centre square);
* ``"center"`` — the largest centred square resized to ``size`` (``size`` 0: the frame as decoded);
* ``"none"``   — the frame as decoded (the detector's own preprocessing resizes it).

Bad media never raises here: what cannot be read is returned in :attr:`MediaFrames.errors`, so a
batch of files is never stopped by one of them. :func:`map_in_workers` runs the per-item work in
worker processes, in input order.
"""

from __future__ import annotations

import multiprocessing
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
from dfshield.media.frames import decode_image
from dfshield.media.video import VIDEO_EXTENSIONS, frame_count, sample_frame_indices, sample_frames

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
    """How :func:`read_media` samples and frames.

    ``frames``: frames sampled evenly per video (and per group of images read as one video).
    ``transform``: applied to every decoded frame before framing (build-lmdb's ``--reencode``);
    it must be picklable when items are read in worker processes.
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

    def __post_init__(self) -> None:
        if int(self.frames) < 1:
            raise ConfigError(f"--frames must be at least 1, got {self.frames}.")
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
    """What :func:`read_media` read from one item."""

    kind: str  # "image" | "video"
    frames: list[Frame] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, message)
    note: str = ""  # e.g. a truncated video


_CROPPERS: dict[tuple, FaceCropper] = {}


def face_cropper(options: MediaOptions) -> FaceCropper:
    """The (per process cached) face cropper of ``options``."""
    key = (options.detector, options.scale, options.size, options.on_missing, options.device)
    if key not in _CROPPERS:
        _CROPPERS[key] = FaceCropper(*key[:4], device=options.device)
    return _CROPPERS[key]


def read_image(path: Path) -> np.ndarray:
    """An image file as RGB uint8, decoded as the dataset decodes frames
    (:func:`~dfshield.media.frames.decode_image`), turned upright by its EXIF orientation: phones
    store portrait photos as landscape pixels plus a tag, and a face detector needs them upright."""
    return decode_image(path.read_bytes(), str(path), exif_orientation=True)


def _image_index(paths: Sequence[Path], position: int) -> int:
    """Frame index of an image read as a frame: the numeric file stems when all are distinct
    numbers (frames already extracted as ``000.png``, ``005.png`` ...), else the position."""
    stems = [p.stem for p in paths]
    if all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return int(paths[position].stem)
    return position


def _decoded(paths: Sequence[Path], media: MediaFrames, n: int) -> Iterator[tuple[int, np.ndarray]]:
    if media.kind == "video":
        frames, decodable = sample_frames(paths[0], n)
        announced = frame_count(paths[0])
        if announced > decodable:
            media.note = (
                f"truncated: {decodable} of {announced} announced frames decode; sampled from those"
            )
        yield from frames
        return
    chosen = sample_frame_indices(len(paths), n) if len(paths) > 1 else [0]
    for position in chosen:
        try:
            yield _image_index(paths, position), read_image(paths[position])
        except (DataError, OSError) as error:  # one bad image does not lose the others
            media.errors.append((str(paths[position]), str(error)))


def _frame(
    rgb: np.ndarray, framing: str, options: MediaOptions
) -> tuple[np.ndarray | None, bool | None]:
    if framing == "face":
        return face_cropper(options).crop(rgb)
    if framing == "center" and options.size:
        return center_crop(rgb, options.size), None
    return rgb, None


def read_media(paths: Path | Sequence[Path], options: MediaOptions) -> MediaFrames:
    """Decode one video file, or image files read as the frames of one video (a single image is a
    one-frame video), sample ``options.frames`` of them evenly and frame each one.

    Never raises for bad media: unreadable files are in the result's ``errors``.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    kind = "video" if len(paths) == 1 and media_kind(paths[0]) == "video" else "image"
    media = MediaFrames(kind)
    framing = options.video_framing if kind == "video" else options.image_framing
    try:
        for index, rgb in _decoded(paths, media, options.frames):
            if options.transform is not None:
                rgb = options.transform(rgb)
            framed, found = _frame(rgb, framing, options)
            media.frames.append(Frame(index, framed, found))
    except (DataError, OSError) as error:
        media.errors.append((str(paths[0]), str(error)))
    except cv2.error as error:  # pragma: no cover - decoder failure modes vary
        media.errors.append((str(paths[0]), f"OpenCV could not decode it ({error})"))
    return media


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one item per process: OpenCV's own threads would only compete


def map_in_workers(function: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    """``function(job)`` for every job, in input order, in ``workers`` spawned processes (0: in
    this one). At most ``2 × workers`` jobs are in flight: decoded videos are large, and a
    consumer that stops early leaves little work behind. Close the iterator (or exhaust it) to
    stop the workers."""
    if workers <= 0:
        yield from map(function, jobs)
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
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
