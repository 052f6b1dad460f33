"""Frames as stored bytes: PNG that decodes to the same pixels, and the ``--reencode`` spec."""

from __future__ import annotations

import numpy as np
import pytest

from dfshield.dataset_builder.frame_encoding import encode_png, parse_reencode
from dfshield.errors import ConfigError, DataError
from dfshield.media.frames import decode_image


def test_png_bytes_decode_to_the_same_rgb_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_png(rgb), "frame"), rgb)
    with pytest.raises(DataError, match="RGB uint8"):
        encode_png(rgb[..., 0])


def test_reencode_spec_is_jpeg_with_a_quality():
    assert str(parse_reencode("JPEG:90")) == "jpeg:90" and parse_reencode(None) is None
    for bad in ("jpeg", "jpeg:0", "png:9", "jpeg:abc"):
        with pytest.raises(ConfigError, match="jpeg:Q"):
            parse_reencode(bad)
