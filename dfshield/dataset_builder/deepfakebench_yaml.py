"""``deepfakebench.yaml`` beside a built dataset's JSON: what DeepfakeBench needs to use it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from dfshield.dataset_builder.layout import label_dict_for
from dfshield.fileio import write_text_atomic

DEEPFAKEBENCH_YAML = "deepfakebench.yaml"


def write_deepfakebench_yaml(out_dir: str | Path, name: str) -> Path:
    """Write ``<out_dir>/json/deepfakebench.yaml`` (``label_dict`` lines, absolute folders) for
    every dataset built in ``out_dir``, earlier ones included; its path."""
    out = Path(out_dir).resolve()
    path = out / "json" / DEEPFAKEBENCH_YAML
    names = sorted({name} | _datasets_listed(path))
    write_text_atomic(path, _deepfakebench_yaml(out, names))
    return path


def _datasets_listed(path: Path) -> set[str]:
    """Datasets a previous ``deepfakebench.yaml`` lists whose JSON is still beside it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()
    labels = data.get("label_dict") if isinstance(data, dict) else None
    if not isinstance(labels, dict):
        return set()
    names = {key.removesuffix("_real") for key in labels if str(key).endswith("_real")}
    return {n for n in names if (path.parent / f"{n}.json").is_file()}


_DEEPFAKEBENCH_TEMPLATE = """\
# DeepfakeBench settings for the dataset(s) dfshield built in {out}: {names}.
# DeepfakeBench's training/train.py reads the detector YAML, then
# training/config/train_config.yaml, whose keys win (training/test.py: test_config.yaml).
# Put these keys in train_config.yaml and test_config.yaml.
#
# label_dict: add these lines to the label_dict already there. (A label_dict in the
# detector YAML replaces train_config.yaml's whole label_dict in train.py.)
label_dict:
{labels}

# The frames are stored only in the LMDB (no frame folders): keep lmdb true. rgb_dir, the
# folder of frame folders read when lmdb is false, is not used by these datasets: leave
# yours as it is.
lmdb: true
lmdb_dir: {lmdb_dir}  # holds <Name>_lmdb

# dataset_json_folder: test.py uses this value, but train.py replaces it whenever lmdb is
# true, after reading the YAML files:
#     if config['lmdb']:
#         config['dataset_json_folder'] = 'preprocessing/dataset_json_v3'
# (relative to the DeepfakeBench folder you run it from). For training, link the JSON
# there, or delete those two lines of training/train.py:
#     mkdir -p preprocessing/dataset_json_v3
{links}
dataset_json_folder: {json_dir}

# Then, from the DeepfakeBench folder:
#     python training/train.py --detector_path training/config/detector/<detector>.yaml \\
#         --train_dataset {first} --test_dataset {first}
"""


def _deepfakebench_yaml(out: Path, names: Sequence[str]) -> str:
    """The text of ``deepfakebench.yaml`` (paths as JSON strings: valid YAML, any characters)."""
    json_dir = out / "json"
    return _DEEPFAKEBENCH_TEMPLATE.format(
        out=out,
        names=", ".join(names),
        labels="\n".join(
            f"  {label}: {value}" for n in names for label, value in label_dict_for(n).items()
        ),
        lmdb_dir=json.dumps(str(out / "lmdb")),
        links="\n".join(
            f"#     ln -s {json.dumps(str(json_dir / f'{n}.json'))} preprocessing/dataset_json_v3/"
            for n in names
        ),
        json_dir=json.dumps(str(json_dir)),
        first=names[0],
    )
