"""Frame selection (numeric sort, even sampling, clips) and decoding of frame bytes."""

import io

import cv2
import numpy as np
import pytest

from dfshield.errors import ConfigError, DataError
from dfshield.media.frames import (
    decode_image,
    decode_landmark,
    decode_mask,
    even_indices,
    jpeg_round_trip,
    repeat_evenly,
    select_clips,
    select_frames,
)


def frames(n, folder="v"):
    return [f"{folder}\\{i * 10:03d}.png" for i in range(n)]


def test_select_frames_sorts_numerically_then_samples_evenly():
    shuffled = ["v\\100.png", "v\\1005.png", "v\\020.png", "v\\000.png", "v\\003.png"]
    assert select_frames(shuffled, 10) == [
        "v\\000.png",
        "v\\003.png",
        "v\\020.png",
        "v\\100.png",
        "v\\1005.png",
    ]
    chosen = select_frames(frames(10), 4)
    assert chosen == ["v\\000.png", "v\\030.png", "v\\060.png", "v\\090.png"]  # not the first 4
    assert select_frames(frames(32), 32) == frames(32)
    assert select_frames(frames(3), 8) == frames(3)  # fewer frames than asked: all of them


@pytest.mark.parametrize("total, n", [(10, 4), (32, 32), (270, 32), (33, 32), (5, 1), (2, 2)])
def test_even_indices_properties(total, n):
    idx = even_indices(total, n)
    assert len(idx) == n
    assert all(b > a for a, b in zip(idx, idx[1:]))  # strictly increasing: no repeats
    if n > 1:
        assert idx[0] == 0 and idx[-1] == total - 1
    gaps = np.diff(idx)
    if len(gaps):
        assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_repeat_evenly_and_clips():
    assert repeat_evenly(["a", "b", "c"], 8) == ["a", "a", "b", "b", "b", "b", "c", "c"]
    clips = select_clips(frames(32), frame_num=32, clip_size=8)
    assert len(clips) == 4 and all(len(c) == 8 for c in clips)
    assert [c[0] for c in clips] == ["v\\000.png", "v\\080.png", "v\\160.png", "v\\240.png"]
    one = select_clips(frames(32), frame_num=8, clip_size=8)  # 8 frames spread over the video
    assert one == [select_frames(frames(32), 8)]
    short = select_clips(frames(3), frame_num=32, clip_size=5)
    assert short == [["v\\000.png", "v\\010.png", "v\\010.png", "v\\020.png", "v\\020.png"]]
    assert select_clips([], 4, 4) == []


def test_first_sampling_keeps_the_first_frames_in_numeric_order():
    shuffled = ["v\\100.png", "v\\1005.png", "v\\020.png", "v\\000.png", "v\\003.png"]
    assert select_frames(shuffled, 3, "first") == ["v\\000.png", "v\\003.png", "v\\020.png"]
    assert select_frames(frames(10), 4, "first") == frames(4)
    assert select_frames(frames(3), 8, "first") == frames(3)  # fewer frames than asked: all
    assert select_frames(frames(10), 4, "even") == select_frames(frames(10), 4)
    clips = select_clips(frames(32), frame_num=16, clip_size=8, sampling="first")
    assert clips == [frames(8), frames(16)[8:]]  # cut from the first 16 frames


def test_unknown_sampling_names_the_choices():
    with pytest.raises(ConfigError, match="frame_sampling must be one of even, first.*'first'"):
        select_frames(frames(10), 4, "frist")


def encode(array, ext=".png", params=()):
    ok, data = cv2.imencode(ext, array, list(params))
    assert ok
    return data.tobytes()


def test_decode_colour_png_returns_rgb():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    rgb = decode_image(encode(bgr), "k")
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (200, 0, 10)


def test_decode_grayscale_rgba_and_16_bit():
    gray = np.full((3, 3), 77, np.uint8)
    out = decode_image(encode(gray), "gray")
    assert out.shape == (3, 3, 3) and (out == 77).all()
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 1] = 150
    bgra[..., 3] = 10  # alpha dropped
    out = decode_image(encode(bgra), "rgba")
    assert out.shape == (3, 3, 3) and tuple(out[0, 0]) == (0, 150, 0)
    deep = np.full((2, 2, 3), 65535, np.uint16)
    out = decode_image(encode(deep), "16bit")
    assert out.dtype == np.uint8 and (out == 255).all()
    jpeg = decode_image(encode(np.full((8, 8, 3), 128, np.uint8), ".jpg"), "jpeg")
    assert jpeg.shape == (8, 8, 3)


@pytest.mark.parametrize("data", [b"not an image at all", b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_undecodable_bytes_name_the_key(data):
    with pytest.raises(DataError, match=r"'FF\\x\\000.png' of dataset 'FF-DF'"):
        decode_image(data, "FF\\x\\000.png", "FF-DF")


def test_truncated_png_is_an_error():
    data = encode(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="cannot decode image 'trunc'"):
        decode_image(data[: len(data) // 2], "trunc")


def test_decode_mask_and_landmarks():
    mask = decode_mask(encode(np.full((2, 3), 255, np.uint8)), "m")
    assert mask.shape == (2, 3) and mask.dtype == np.float32 and np.allclose(mask, 1.0)
    points = np.arange(162, dtype=np.uint32).reshape(81, 2)
    raw = decode_landmark(points.tobytes(), "l")
    assert raw.shape == (81, 2) and raw.dtype == np.float32 and raw[80, 1] == 161
    buffer = io.BytesIO()
    np.save(buffer, points.astype(np.float64))
    assert np.array_equal(decode_landmark(buffer.getvalue(), "npy"), raw)
    with pytest.raises(DataError, match="cannot read landmarks 'bad'"):
        decode_landmark(b"abc", "bad")


def test_jpeg_round_trip_keeps_colours_and_loses_more_at_lower_quality():
    ramp = np.linspace(0, 255, 64)
    smooth = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 255 - ramp[:, None]), -1)
    smooth = (smooth + 40 * np.sin(ramp / 9)[None, :, None]).clip(0, 255).astype(np.uint8)
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200
    back = jpeg_round_trip(red, 95)
    assert back.shape == red.shape and back.dtype == np.uint8
    assert back[..., 0].min() > 150 and back[..., 2].max() < 50  # RGB stays RGB (not BGR)
    errors = [np.abs(jpeg_round_trip(smooth, q).astype(int) - smooth).mean() for q in (100, 75, 10)]
    assert errors[0] < 2 and errors[0] < errors[1] < errors[2]
