"""A tiny DeepfakeBench for ``dfshield reproduce``'s tests: JSONs and an LMDB for every dataset a
table reads, carrying the real dataset names and DeepfakeBench's split quirks, and ``--set``
overrides that make a run a 1-epoch CPU run with a tiny random-init backbone."""

from __future__ import annotations

import json
from pathlib import Path

import lmdb
import numpy as np
import yaml

from dfshield.config import config_dir, load_yaml
from dfshield.data.index import DEFAULT_LABEL_DICT, lmdb_name, own_label_dict
from dfshield.dataset_builder.frame_encoding import encode_png
from dfshield.studies.demo import small_backbone
from dfshield.studies.reproduce_tables import KNOWN_GENERATORS, UNSEEN_GENERATORS
from tests.helpers import toy_image

FF_LEVELS = ("c23", "c40", "raw")


def label_of(label: str) -> int:
    return {**DEFAULT_LABEL_DICT, **own_label_dict(label.rsplit("_", 1)[0])}[label]


def _videos(dataset: str, folder: str, label: str, names, frames: int, rng, store) -> dict:
    """``{video: {label, frames}}`` with Windows-separated paths; the frames go into ``store``."""
    videos = {}
    for name in names:
        paths = [f"{dataset}\\{folder}\\frames\\{name}\\{i:03d}.png" for i in range(frames)]
        for path in paths:
            store[path] = encode_png(toy_image(rng, bool(label_of(label))))
        videos[name] = {"label": label, "frames": paths}
    return videos


def _split(ids, train, val, test):
    return {"train": ids[:train], "val": ids[train : train + val], "test": ids[train + val : test]}


def write_benchmark(root: Path) -> dict:
    """JSONs and one LMDB (linked under every ``<name>_lmdb``) for every dataset a table reads,
    with DeepfakeBench's layouts: FF-family levels, Celeb-DF's train holding every video and val
    = test, UADFV and DFD listing every video in every split, DFDC's val = train."""
    rng, store, jsons = np.random.default_rng(0), {}, {}

    def ff(groups: dict[str, str]) -> dict:
        out = {}
        for label, folder in groups.items():
            out[label] = {s: {} for s in ("train", "val", "test")}
            for level in FF_LEVELS:
                ids = [f"{label}{i}" for i in range(8)]
                videos = _videos("FaceForensics++", f"{folder}\\{level}", label, ids, 2, rng, store)
                for split, names in _split(ids, 4, 2, 8).items():
                    out[label][split][level] = {n: videos[n] for n in names}
        return out

    real = {"FF-real": "original_sequences\\youtube"}
    jsons["FaceForensics++"] = ff(
        {**real, "FF-DF": "manipulated_sequences\\Deepfakes", "FF-FS": "x\\FaceSwap"}
    )
    jsons["FF-DF"] = {k: jsons["FaceForensics++"][k] for k in ("FF-real", "FF-DF")}
    jsons["FaceShifter"] = ff({**real, "FF-FH": "manipulated_sequences\\FaceShifter"})
    for name, tag, n_real, n_fake in (("Celeb-DF-v1", "v1", 12, 8), ("Celeb-DF-v2", "v2", 14, 8)):
        groups = {}
        for label, folder, n, n_test in (
            (f"CelebDF{tag}_real", "YouTube-real", n_real, 4),
            (f"CelebDF{tag}_fake", "Celeb-synthesis", n_fake, 2),
        ):
            videos = _videos(
                name, folder, label, [f"{folder[0]}{i}" for i in range(n)], 2, rng, store
            )
            test = {k: videos[k] for k in list(videos)[:n_test]}
            groups[label] = {"train": videos, "val": test, "test": test}
        jsons[name] = groups
    for name, labels, everywhere in (
        ("UADFV", ("UADFV_Real", "UADFV_Fake"), True),
        ("DeepFakeDetection", ("DFD_real", "DFD_fake"), True),
        ("DFDCP", ("DFDCP_Real", "DFDCP_FakeA"), False),
        ("DFDC", ("DFDC_Real", "DFDC_Fake"), False),
    ):
        groups = {}
        for label in labels:
            videos = _videos(name, label, label, [f"{label}{i}" for i in range(8)], 2, rng, store)
            ids = list(videos)
            if everywhere:
                node = {"c23": videos} if name == "DeepFakeDetection" else videos
                groups[label] = {"train": node, "val": node, "test": node}
            else:
                train, test = {k: videos[k] for k in ids[:5]}, {k: videos[k] for k in ids[5:]}
                groups[label] = {"train": train, "val": train if name == "DFDC" else test}
                groups[label]["test"] = test
        jsons[name] = groups
    for name in (*KNOWN_GENERATORS, *UNSEEN_GENERATORS):
        groups = {}
        for kind in ("real", "fake"):
            label = f"{name}_{kind}"
            videos = _videos(name, kind, label, [f"{kind}{i}" for i in range(6)], 1, rng, store)
            ids = list(videos)
            known = name in KNOWN_GENERATORS
            groups[label] = _split(ids, 2, 2, 6) if known else {"test": ids}
            groups[label] = {s: {k: videos[k] for k in v} for s, v in groups[label].items()}
        jsons[name] = groups

    json_dir, lmdb_dir = root / "json", root / "lmdb"
    json_dir.mkdir(parents=True)
    lmdb_dir.mkdir()
    for name, groups in jsons.items():
        (json_dir / f"{name}.json").write_text(json.dumps({name: groups}))
    env = lmdb.open(str(root / "all_lmdb"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for key, value in store.items():
            txn.put(key.encode(), value)
    env.close()
    for name in jsons:
        link = lmdb_dir / f"{lmdb_name(name)}_lmdb"
        if not link.exists():
            link.symlink_to(root / "all_lmdb")
    return {"json_dir": str(json_dir), "lmdb_dir": str(lmdb_dir)}


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip()


def tiny_sets(detector: str, out: Path) -> list[str]:
    """``--set`` overrides for a 1-epoch CPU run with a tiny random-init backbone."""
    backbone = load_yaml(config_dir() / "detectors" / f"{detector}.yaml")["detector"]["backbone"]
    sets = [
        f"detector.backbone={_flow(small_backbone(backbone))}",
        "train.epochs=1",
        "train.batch_size=64",
        "train.device=cpu",
        "train.progress=false",
        f"train.output_dir={out}",
        "data.num_workers=0",
        "data.clip_size=2",
    ]
    if detector == "spcup":
        sets.append("detector.hidden=32")
    if detector == "ddln":
        sets += ["detector.input_size=32", "detector.gru_hidden=8", "detector.gru_layers=1"]
    return sets
