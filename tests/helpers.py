"""Helpers shared by the tests: the tiny random-init backbone, a toy dataset, a config layer.

Import them with ``from tests.helpers import ...`` (``tests`` is a package, so that its
folders, named after dfshield's packages, never shadow another project's top-level package such
as DeepfakeBench's ``detectors``); ``conftest.py`` holds only fixtures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lmdb
import numpy as np

SHARED_DATA = Path(
    os.environ.get("DFSHIELD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
TINY_BACKBONE = {"name": "clip", "model": "dfshield-tiny-vit", "pretrained": None}


def toy_image(rng: np.random.Generator, fake: bool, size: int = 32) -> np.ndarray:
    """A smooth random image; fakes get a strong checkerboard (a generator-like artefact)."""
    base = rng.uniform(40, 200, size=(4, 4, 3))
    image = np.kron(base, np.ones((size // 4, size // 4, 1)))
    image += rng.normal(0, 6, size=image.shape)
    if fake:
        checker = (np.indices((size, size)).sum(axis=0) % 2)[..., None] * 2 - 1
        image += 40 * checker
    return np.clip(image, 0, 255).astype(np.uint8)


def write_toy_dataset(
    out_dir: Path,
    name: str = "Toy",
    n_real: int = 40,
    n_fake: int = 20,
    frames_per_video: int = 2,
    seed: int = 0,
) -> dict:
    from dfshield.dataset_builder.dataset_writer import DatasetWriter
    from dfshield.dataset_builder.layout import label_dict_for

    rng = np.random.default_rng(seed)
    with DatasetWriter(out_dir, name) as writer:
        for i in range(n_real + n_fake):
            fake = i >= n_real
            frames = [(10 * j, toy_image(rng, fake)) for j in range(frames_per_video)]
            writer.add_video(f"v{i:04d}", "fake" if fake else "real", frames)
        summary = writer.close(fractions=(0.5, 0.25, 0.25), seed=seed)
    return {
        "name": name,
        "json_dir": str(out_dir / "json"),
        "lmdb_dir": str(out_dir / "lmdb"),
        "label_dict": label_dict_for(name),
        "summary": summary,
    }


def toy_layer(dataset: dict, cache_dir: Path | str, epochs: int = 3, **train) -> tuple[str, dict]:
    """A config layer that points a run at the toy dataset with the tiny random-init backbone."""
    return (
        "test layer",
        {
            "data": {
                "train_datasets": [dataset["name"]],
                "test_datasets": [dataset["name"]],
                "json_dir": dataset["json_dir"],
                "lmdb_dir": dataset["lmdb_dir"],
                "label_dict": dataset["label_dict"],
                "num_workers": 0,
            },
            "train": {
                "epochs": epochs,
                "batch_size": 16,
                "seed": 1,
                "device": "cpu",
                "progress": False,
                "output_dir": str(cache_dir),
                **train,
            },
            "detector": {"backbone": dict(TINY_BACKBONE)},
        },
    )


_TRAINED: dict = {}


def train_tiny_checkpoint(dataset: dict, folder: Path) -> dict:
    """One tiny clip_linear run per session (1 epoch), tested with ``Trainer.test``; shared by
    tests/test_predict.py and tests/test_robustness.py."""
    if "run" not in _TRAINED:
        from dfshield.config import load_run_config
        from dfshield.engine.trainer import Trainer

        cfg = load_run_config(
            detector="clip_linear", extra_layers=[toy_layer(dataset, folder, epochs=1)]
        )
        trainer = Trainer(cfg, folder / "run", feature_cache=folder / "cache")
        trainer.fit()
        result = trainer.test()
        _TRAINED["run"] = {
            "checkpoint": folder / "run" / "checkpoints" / "best.pt",
            "cfg": cfg,
            "run_dir": folder / "run",
            "test": result,
            "trainer": trainer,
        }
    return _TRAINED["run"]


def auc_of_written_scores(path: Path) -> tuple[float, float]:
    """scikit-learn's ROC AUC of a ``test_scores.csv`` as written, and the AUC weight of one
    (fake, real) pair, ``1 / (n_fake · n_real)``: the file keeps P(fake) to 6 decimals, which
    may tie a pair that the full-precision scores ordered."""
    import csv

    from sklearn.metrics import roc_auc_score

    with Path(path).open() as handle:
        rows = list(csv.DictReader(handle))
    labels = [int(row["label"]) for row in rows]
    scores = [float(row["prob_fake"]) for row in rows]
    return float(roc_auc_score(labels, scores)), 1 / (labels.count(1) * labels.count(0))


def sample_frames(path, n: int):
    """All ``n`` sampled frames of a video at once, ``([(index, rgb), ...], total)``, collected
    from :class:`dfshield.media.video.SampledVideo` (a truncated video restarts its sampling over
    the frames that decode): the reference the streaming readers are compared with."""
    from dfshield.media.video import SampledVideo

    video = SampledVideo(path, n)
    frames: list = []
    for frame in video:
        frames = [] if frame is None else [*frames, frame]
    return frames, video.total


def read_dataset(out: Path, name: str) -> tuple[dict, dict[str, bytes]]:
    """The JSON index and the LMDB's ``{key: bytes}`` of a dataset built into ``out``."""
    info = json.loads((out / "json" / f"{name}.json").read_text(encoding="utf-8"))
    env = lmdb.open(str(out / "lmdb" / f"{name}_lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        values = {k.decode("utf-8"): bytes(v) for k, v in txn.cursor()}
    env.close()
    return info, values


def videos_of(info: dict, name: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """{(label, video): (split, frames)} with a structural check of the JSON on the way."""
    assert list(info) == [name]
    assert set(info[name]) == {f"{name}_real", f"{name}_fake"}
    out = {}
    for lab in ("real", "fake"):
        group = info[name][f"{name}_{lab}"]
        assert set(group) == {"train", "val", "test"}
        for split in ("train", "val", "test"):
            for vid, entry in group[split].items():
                assert entry["label"] == f"{name}_{lab}"
                assert (lab, vid) not in out, f"video {vid} is in two splits"
                out[(lab, vid)] = (split, entry["frames"])
    return out
