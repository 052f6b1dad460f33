"""Frame selection (numeric order; evenly spaced or first N); frame, mask, landmark decoding; the
one JPEG round trip (``--reencode`` and the ``jpeg`` perturbation)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import TypeVar

import cv2
import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, DataError
from dfshield.media.video import check_pixels

T = TypeVar("T")

#: How frames are picked from a video that has more than asked for: ``even`` spreads them over the
#: whole video; ``first`` keeps the first ones, as DeepfakeBench's ``abstract_dataset.py`` does
#: (its ``step = total_frames // frame_num`` is computed after ``total_frames = frame_num``, so the
#: step is always 1).
FRAME_SAMPLING: tuple[str, ...] = ("even", "first")

_NPY_MAGIC = b"\x93NUMPY"
#: Largest image or video frame decoded (pixels): about 150 MB decoded, 50 megapixels.
DEFAULT_MAX_PIXELS = 50_000_000
_PILLOW_LIMIT = threading.Lock()  # held while Pillow's own limit is lifted


def frame_sort_key(path: str) -> tuple:
    """Sort key of a frame path: integer file stem first (``2 < 10 < 1005``), then the name."""
    stem = PurePosixPath(str(path).replace("\\", "/")).stem
    return (0, int(stem), path) if stem.isdigit() else (1, 0, stem, path)


def sort_frames(frames: Iterable[str]) -> list[str]:
    """Frame paths sorted numerically by their file stem (names that are not numbers go last)."""
    return sorted(frames, key=frame_sort_key)


def even_indices(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)``: ``floor(linspace(0, total-1, n) + 0.5)``;
    no repeats for ``n <= total``, else each repeated about ``n / total`` times, in order."""
    if total < 1 or n < 1:
        return []
    if n == 1:
        return [0] if total == 1 else [int(np.floor((total - 1) / 2 + 0.5))]
    return [int(i) for i in np.floor(np.linspace(0, total - 1, n) + 0.5)]


def check_sampling(sampling: str) -> str:
    """``sampling`` if it is one of :data:`FRAME_SAMPLING`, else a ConfigError naming them."""
    if sampling not in FRAME_SAMPLING:
        raise ConfigError(
            f"data.frame_sampling must be one of {', '.join(FRAME_SAMPLING)}, got "
            f"{sampling!r}.{did_you_mean(str(sampling), FRAME_SAMPLING)}"
        )
    return sampling


def select_frames(frames: Sequence[str], n: int, sampling: str = "even") -> list[str]:
    """Frame paths in numeric order, ``n`` of them: evenly spaced (``"even"``) or the first ``n``
    (``"first"``, as DeepfakeBench); a video with ``n`` or fewer frames keeps all."""
    check_sampling(sampling)
    ordered = sort_frames(frames)
    if n >= len(ordered):
        return list(ordered)
    if sampling == "first":
        return list(ordered[:n])
    return [ordered[i] for i in even_indices(len(ordered), n)]


def repeat_evenly(frames: Sequence[T], n: int) -> list[T]:
    """Stretch a short list to ``n`` items by repeating each item evenly, keeping the order."""
    return [frames[i] for i in even_indices(len(frames), n)]


def select_clips(
    frames: Sequence[str], frame_num: int, clip_size: int, sampling: str = "even"
) -> list[list[str]]:
    """Deterministic clips of ``clip_size`` consecutive chosen frames (video mode): of
    ``max(frame_num, clip_size)`` selected frames, ``len // clip_size`` clips, starts spread evenly;
    a video shorter than ``clip_size`` gives one clip of its frames repeated evenly."""
    chosen = select_frames(frames, max(frame_num, clip_size), sampling)
    if not chosen:
        return []
    if len(chosen) < clip_size:
        return [repeat_evenly(chosen, clip_size)]
    count = len(chosen) // clip_size
    starts = even_indices(len(chosen) - clip_size + 1, count)
    return [list(chosen[s : s + clip_size]) for s in starts]


def _describe(key: str, dataset: str | None) -> str:
    return f"'{key}'" + (f" of dataset '{dataset}'" if dataset else "")


def _to_uint8(img: np.ndarray, key: str, dataset: str | None) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    raise DataError(
        f"image {_describe(key, dataset)} has pixel type {img.dtype}; expected 8- or "
        f"16-bit integers (re-encode it as an 8-bit PNG)"
    )


def decode_image(
    data: bytes,
    key: str,
    dataset: str | None = None,
    *,
    exif_orientation: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    option: str = "data.max_pixels",
) -> np.ndarray:
    """Image bytes as an ``HxWx3`` uint8 RGB array (gray replicated, alpha dropped, 16-bit scaled).

    ``exif_orientation`` applies the EXIF turn (camera media). Over ``max_pixels`` is refused from
    the header; undecodable bytes raise :class:`DataError` naming ``key`` and ``dataset``."""
    if data is None or len(data) == 0:
        raise DataError(f"image {_describe(key, dataset)} is empty (0 bytes)")
    check_image_pixels(data, f"image {_describe(key, dataset)}", max_pixels, option)
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_UNCHANGED never applies the EXIF orientation; ANYDEPTH | ANYCOLOR keeps the depth and
    # the colour channels too (it drops alpha, as below) and does apply it
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if exif_orientation else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(buffer, flags)
    if img is None or img.size == 0:
        raise DataError(
            f"cannot decode image {_describe(key, dataset)} ({len(data)} bytes, starting "
            f"{bytes(data[:8])!r}): not a readable image or a corrupt/truncated file"
        )
    img = _to_uint8(img, key, dataset)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 2:  # gray + alpha
        return cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    raise DataError(f"image {_describe(key, dataset)} has {channels} channels; expected 1, 3 or 4")


def check_image_pixels(
    data: bytes, name: str, max_pixels: int | None, option: str = "--max-pixels"
) -> None:
    """Refuse an image over ``max_pixels`` from its header, before decoding; a header Pillow cannot
    read is left to the decoder. Pillow's own bomb limit is lifted meanwhile (it refuses without
    saying the size)."""
    if max_pixels is None:
        return
    from PIL import Image  # Pillow comes with torchvision and matplotlib

    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                width, height = image.size
        except Exception:  # no plugin reads it (or a truncated header): the decoder decides
            return
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    check_pixels(name, width, height, max_pixels, option)


def decode_mask(data: bytes, key: str, dataset: str | None = None) -> np.ndarray:
    """Decode mask bytes to an ``HxW`` float32 array in ``[0, 1]`` (colour masks are averaged)."""
    img = decode_image(data, key, dataset)
    return (img.astype(np.float32).mean(axis=2) / 255.0).astype(np.float32)


def decode_landmark(data: bytes, key: str, dataset: str | None = None) -> np.ndarray:
    """Decode landmark bytes to an ``(N, 2)`` float32 array: DeepfakeBench's LMDBs hold raw uint32
    ``(81, 2)`` bytes; bytes with the ``.npy`` magic are read by ``np.load(allow_pickle=False)``."""
    if data is None or len(data) == 0:
        raise DataError(f"landmarks {_describe(key, dataset)} are empty (0 bytes)")
    try:
        if bytes(data[:6]) == _NPY_MAGIC:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            if len(data) % 8:
                raise ValueError(f"{len(data)} bytes is not a whole number of uint32 (x, y) pairs")
            array = np.frombuffer(data, dtype=np.uint32)
        array = np.asarray(array, dtype=np.float32).reshape(-1, 2)
    except (ValueError, EOFError, OSError) as error:
        raise DataError(f"cannot read landmarks {_describe(key, dataset)}: {error}") from error
    return array


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """An RGB uint8 frame JPEG-encoded by OpenCV at ``quality`` (1–100) and decoded again."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:  # pragma: no cover - libjpeg does not fail on valid uint8 frames
        raise DataError(f"OpenCV could not JPEG-encode a frame of shape {np.shape(rgb)}")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    assert decoded is not None  # a buffer imencode just wrote
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
