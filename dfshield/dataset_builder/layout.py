"""The format of a built dataset, DeepfakeBench's: one JSON index plus one LMDB of PNG frames;
the dataset names, label strings and frame keys it uses.

Layout written under ``out_dir`` for a dataset called ``Name``::

    out_dir/json/Name.json
    out_dir/json/deepfakebench.yaml         (the settings DeepfakeBench needs to read it)
    out_dir/lmdb/Name_lmdb/{data.mdb,lock.mdb}

JSON (the shape DeepfakeBench's released ``dataset_json`` files have, without a compression level,
which DeepfakeBench only uses for FaceForensics++-family names)::

    {"Name": {"Name_real": {"train": {<video>: {"label": "Name_real", "frames": [<path>, ...]}},
                            "val": {...}, "test": {...}},
              "Name_fake": {"train": {...}, "val": {...}, "test": {...}}}}

* **Label strings.** The two label groups are ``"{Name}_real"`` (numeric label 0) and
  ``"{Name}_fake"`` (numeric label 1). dfshield's reader recognises them in a dataset called
  ``Name`` without configuration; :func:`label_dict_for` returns the two lines to add to
  DeepfakeBench's ``label_dict`` to train there, and ``deepfakebench.yaml`` holds them with the
  folders (:mod:`.deepfakebench_yaml`).
* **Frame paths and LMDB keys** are the same string, with Windows backslashes like DeepfakeBench's
  released data: ``Name\\real\\frames\\real_<video>\\<idx>.png`` (``fake`` for fakes), where
  ``<idx>`` is the original frame index, zero-padded to at least 3 digits. The key is that string
  in UTF-8; the value is the PNG file bytes from ``cv2.imencode(".png", bgr)``. The class starts
  the video's folder name because DeepfakeBench's video-level metrics group frames by that name
  alone: a real ``001`` and a fake ``001`` stay two videos.
* **Videos.** Every entry is a video: a list of frames with their original indices. Image datasets
  store each image as a one-frame video (index ``000``) unless the builder groups images into
  videos.
* **Splits** are assigned per video (never frames of one video in two splits), stratified by label,
  seeded: see :mod:`.split_allocation`. All three split keys are always present (possibly empty).
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
    """The label strings a built dataset uses: ``{"{name}_real": 0, "{name}_fake": 1}``.

    dfshield's reader recognises them in a dataset called ``name`` by itself; add these two
    lines to DeepfakeBench's ``label_dict`` to train there.
    """
    return own_label_dict(name)


def normalize_label(value: Any) -> str:
    """``"real"`` or ``"fake"`` from 0/1, real/fake and common spellings (REAL, FAKE, original,
    ...)."""
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
    """A video name safe inside a backslash- or slash-separated key: unsafe characters become
    ``_``."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")
    return cleaned or "video"


def frame_key(name: str, label: str | int, video: str, index: int) -> str:
    """``Name\\<real|fake>\\frames\\<real|fake>_<video>\\<idx>.png`` — JSON frame path and LMDB
    key. The video's folder name carries the class so that it is unique in the whole dataset
    (DeepfakeBench groups frames into videos by that name alone)."""
    if "\\" in video or "/" in video:
        raise DataError(
            f"Video name {video!r} contains a path separator; use safe_video_name() first."
        )
    label = normalize_label(label)
    return f"{name}\\{label}\\frames\\{label}_{video}\\{int(index):03d}.png"
