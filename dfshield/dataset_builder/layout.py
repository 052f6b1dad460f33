"""A built dataset's format, DeepfakeBench's: names, labels, frame keys (docs/deepfakebench.md).

``json/Name.json``, ``json/deepfakebench.yaml``, ``lmdb/Name_lmdb`` of PNGs; labels ``Name_real``
(0) and ``Name_fake`` (1); key = path = ``Name\\<cls>\\frames\\<cls>_<video>\\<idx>.png`` (the
class in the folder name, as DeepfakeBench groups videos by it alone); splits per video.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.data.index import own_label_dict
from dfshield.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
LABELS = ("real", "fake")  # index = numeric label: real 0, fake 1

#: Names whose DeepfakeBench JSON carries a compression level key and whose frames live in the
#: shared ``FaceForensics++_lmdb``; a builder dataset must not use them (its JSON has no compression
#: key).
FF_FAMILY = frozenset(
    {
        "FaceForensics++",
        "FF-DF",
        "FF-F2F",
        "FF-FS",
        "FF-NT",
        "FF-FH",
        "DeepFakeDetection",
        "FaceShifter",
    }
)

_LABEL_ALIASES = {
    "real": "real",
    "0": "real",
    "original": "real",
    "pristine": "real",
    "genuine": "real",
    "fake": "fake",
    "1": "fake",
    "manipulated": "fake",
    "synthetic": "fake",
    "deepfake": "fake",
}
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def check_dataset_name(name: str) -> str:
    """Validate a dataset name for the JSON file, the label groups and the LMDB folder."""
    name = str(name)
    if not _NAME_OK.match(name):
        raise ConfigError(
            f"Dataset name {name!r} is not usable: use letters, digits, '.', '_', '+' or '-' "
            "(no spaces or path separators), starting with a letter or digit, e.g. 'MyFaces'."
        )
    if name in FF_FAMILY or name.split("_c")[0] in FF_FAMILY:
        raise ConfigError(
            f"Dataset name {name!r} is a FaceForensics++-family name, which readers expect with a "
            "compression level and the shared FaceForensics++_lmdb. Choose another name, e.g. "
            "'MyFF'."
        )
    return name


def label_dict_for(name: str) -> dict[str, int]:
    """``{"{name}_real": 0, "{name}_fake": 1}``: add these to DeepfakeBench's ``label_dict``."""
    return own_label_dict(name)


def normalize_label(value: Any) -> str:
    """``"real"`` or ``"fake"`` from 0/1 and common spellings (REAL, FAKE, original, ...)."""
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return LABELS[int(value)]
    text = str(value).strip().lower()
    if text in _LABEL_ALIASES:
        return _LABEL_ALIASES[text]
    raise DataError(
        f"Unknown label {value!r}: use real/fake (or 0 = real, 1 = fake)."
        + did_you_mean(text, _LABEL_ALIASES)
    )


def safe_video_name(text: str) -> str:
    """A video name safe inside a key: unsafe characters become ``_``."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")
    return cleaned or "video"


def frame_key(name: str, label: str | int, video: str, index: int) -> str:
    """``Name\\<real|fake>\\frames\\<real|fake>_<video>\\<idx>.png``: frame path and LMDB key."""
    if "\\" in video or "/" in video:
        raise DataError(
            f"Video name {video!r} contains a path separator; use safe_video_name() first."
        )
    label = normalize_label(label)
    return f"{name}\\{label}\\frames\\{label}_{video}\\{int(index):03d}.png"
