"""The format of a built dataset: label strings and frame keys as DeepfakeBench has them."""

from __future__ import annotations

import pytest

from dfshield.dataset_builder.layout import frame_key, label_dict_for
from dfshield.errors import DataError


def test_label_dict_and_keys_follow_deepfakebench():
    assert label_dict_for("MyFaces") == {"MyFaces_real": 0, "MyFaces_fake": 1}
    assert frame_key("MyFaces", "fake", "abc", 7) == "MyFaces\\fake\\frames\\fake_abc\\007.png"
    assert frame_key("MyFaces", 0, "abc", 1005) == "MyFaces\\real\\frames\\real_abc\\1005.png"
    with pytest.raises(DataError):
        frame_key("MyFaces", "fake", "a/b", 0)
