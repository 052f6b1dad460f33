"""Reading frames from video files: even frame sampling and robust decoding with OpenCV.

Frames are returned as RGB ``uint8`` arrays of shape (H, W, 3), paired with their original frame
index (0-based position in the decoded stream). Decoding is sequential (``grab`` every frame,
``retrieve`` only the wanted ones): it is as fast as seeking on typical deepfake clips, exact on
every codec, and it notices truncated files whose header promises more frames than they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dfshield.errors import ConfigError, DataError

#: File extensions treated as videos by the dataset builder (lower case, with the dot).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
)


def sample_frame_indices(n_total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``[0, n_total - 1]``, first and last included.

    All frames when the video has ``n`` frames or fewer. Matches DeepfakeBench's preprocessing
    (``np.linspace(0, n_total - 1, n, dtype=int)``), so index lists are comparable with released
    data. Unlike DeepfakeBench's *loader* it never just keeps the first ``n`` frames.
    """
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
    """Number of frames the container header announces (may be wrong for damaged files; 0 if
    unknown)."""
    cap = _open(Path(path))
    try:
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    return int(n) if n and n > 0 else 0


def read_frames(path: str | Path, indices: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """Decode the frames at ``indices`` (original frame numbers) of one video, as RGB arrays.

    Returns ``[(index, rgb), ...]`` in increasing index order for the frames that exist; indices
    past the real end of a truncated file are left out (compare the result's length with what you
    asked for). Raises :class:`DataError` naming the file when it is missing, cannot be opened, or
    yields no decodable frame at all.
    """
    path = Path(path)
    wanted = sorted(set(int(i) for i in indices))
    if any(i < 0 for i in wanted):
        raise ConfigError(f"Frame indices must be >= 0, got {wanted[0]} for {path}.")
    if not wanted:
        return []
    cap = _open(path)
    frames: list[tuple[int, np.ndarray]] = []
    position = 0
    last = wanted[-1]
    want = set(wanted)
    decoded_any = False
    try:
        while position <= last:
            if not cap.grab():
                break
            decoded_any = True
            if position in want:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None and bgr.size:
                    if bgr.ndim == 2:
                        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
                    frames.append((position, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            position += 1
    except cv2.error as exc:  # pragma: no cover - depends on the codec's failure mode
        if not frames:
            raise DataError(
                f"Decoding {path} failed: {exc}. The file is probably corrupt; re-encode or remove "
                "it."
            ) from exc
    finally:
        cap.release()
    if not frames:
        what = (
            "no frame could be decoded"
            if not decoded_any
            else f"none of frames {wanted[:5]}... exist"
        )
        raise DataError(
            f"Cannot read frames from video {path}: {what} (the file is empty, truncated or "
            "corrupt). Re-download or re-encode it, or remove it from the source."
        )
    return frames


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


def sample_frames(path: str | Path, n: int) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Read ``n`` evenly spaced frames of a video: ``([(index, rgb), ...], n_total)``.

    Uses the header's frame count; when the file turns out shorter (truncated) or the header has no
    count, counts the decodable frames and samples evenly over those instead, so the spacing stays
    even over what really exists. Raises :class:`DataError` when nothing can be decoded.
    """
    path = Path(path)
    n_total = frame_count(path)
    if n_total > 0:
        indices = sample_frame_indices(n_total, n)
        try:
            frames = read_frames(path, indices)
        except DataError:
            frames = []
        if frames and len(frames) == len(indices):
            return frames, n_total
    n_real = count_decodable_frames(path)
    if n_real == 0:
        raise DataError(
            f"Cannot read frames from video {path}: no frame could be decoded (the file is empty, "
            "truncated or corrupt). Re-download or re-encode it, or remove it from the source."
        )
    return read_frames(path, sample_frame_indices(n_real, n)), n_real
