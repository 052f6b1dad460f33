"""The media pipeline streams: one decoded frame held at a time, a truncated video resampled
over what decodes, a pixel cap checked from the header before decoding, and a clear error when
OpenCV has no Haar face detector."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfshield.errors import ConfigError
from dfshield.media import video
from dfshield.media.faces import FaceCropper
from dfshield.media.pipeline import MediaOptions, MediaStream, read_media
from tests.helpers import sample_frames

AS_DECODED = {"image_framing": "none", "video_framing": "none"}


def write_video(path: Path, frames: int, width: int = 160, height: int = 120) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    writer.release()
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG file that claims ``width`` x ``height`` pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def peak_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_video_is_streamed_one_frame_at_a_time(tmp_path):
    path = write_video(tmp_path / "long.avi", frames=240)
    options = MediaOptions(frames=240, **AS_DECODED)
    frame_bytes = 160 * 120 * 3
    counted = []

    def consume_each_frame():
        counted.append(sum(frame is not None for frame in MediaStream(path, options)))

    streamed = peak_bytes(consume_each_frame)
    assert counted == [240]
    assert streamed < 12 * frame_bytes, streamed / frame_bytes
    # the measure sees frames that are held: reading every frame at once peaks at all of them
    held = peak_bytes(lambda: read_media(path, options))
    assert held > 200 * frame_bytes, held / frame_bytes


def test_truncated_video_restarts_over_the_frames_that_decode(tmp_path):
    data = write_video(tmp_path / "full.avi", frames=20).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    stream = MediaStream(cut, MediaOptions(frames=4, **AS_DECODED))
    received = list(stream)
    restart = received.index(None)  # frames before it were sampled over the announced 20
    after = [frame.index for frame in received[restart + 1 :]]
    frames, total = sample_frames(cut, 4)
    assert 0 < total < 20 and after == video.sample_frame_indices(total, 4)
    assert after == [index for index, _ in frames]
    assert stream.note.startswith(f"truncated: {total} of 20 announced frames decode")
    collected = read_media(cut, MediaOptions(frames=4, **AS_DECODED)).frames
    assert [frame.index for frame in collected] == after  # what was received before: forgotten


def test_pixel_cap_refuses_images_and_frames_before_decoding(tmp_path, monkeypatch):
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(25000, 25000))  # 625 megapixels, 1.7 GiB decoded

    def never(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(cv2, "imdecode", never)
    media = read_media(huge, MediaOptions(**AS_DECODED))
    ((file, message),) = media.errors
    assert file == str(huge) and media.frames == []
    assert "25000 x 25000 pixels (625 megapixels)" in message
    assert "limit of 50 megapixels (--max-pixels 50000000)" in message
    monkeypatch.undo()

    small = tmp_path / "small.png"
    assert cv2.imwrite(str(small), np.zeros((30, 40, 3), np.uint8))
    assert len(read_media(small, MediaOptions(**AS_DECODED)).frames) == 1
    (error,) = read_media(small, MediaOptions(max_pixels=1000, **AS_DECODED)).errors
    assert "40 x 30 pixels" in error[1] and "--max-pixels 1000" in error[1]

    clip = write_video(tmp_path / "clip.avi", frames=3)
    (error,) = read_media(clip, MediaOptions(frames=2, max_pixels=10_000, **AS_DECODED)).errors
    assert error[0] == str(clip) and "160 x 120 pixels" in error[1] and "--max-pixels" in error[1]
    with pytest.raises(ConfigError, match="--max-pixels must be at least 1"):
        MediaOptions(max_pixels=0)


def test_opencv_without_haar_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(ConfigError) as error:
        FaceCropper("haar").load()
    message = str(error.value)
    assert "CascadeClassifier" in message and "pip install 'opencv-python-headless" in message
    assert "--face-detector mtcnn" in message and "--face-crop never" in message
