"""`dfshield demo-data`: size and imbalance, learnability of the artefact, and no label leak."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from dfshield.commands import demo_data
from dfshield.dataset_builder import demo
from dfshield.dataset_builder.layout import label_dict_for
from dfshield.errors import ConfigError

SPLITS = ("train", "val", "test")


def load(out: Path, name: str = demo.DEMO_NAME) -> dict[str, dict]:
    """{split: {"images": (N, H, W, 3) RGB, "labels": (N,), "bytes": [PNGs], "videos": [names]}}"""
    info = json.loads((out / "json" / f"{name}.json").read_text())[name]
    env = lmdb.open(str(out / "lmdb" / f"{name}_lmdb"), readonly=True, lock=False)
    result = {}
    with env.begin() as txn:
        for split in SPLITS:
            images, labels, raw, videos = [], [], [], []
            for label, group in enumerate((f"{name}_real", f"{name}_fake")):
                for video_name, entry in info[group][split].items():
                    assert entry["label"] == group and set(entry) == {"label", "frames"}
                    for key in entry["frames"]:
                        data = bytes(txn.get(key.encode("utf-8")))
                        images.append(
                            cv2.cvtColor(
                                cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                                cv2.COLOR_BGR2RGB,
                            )
                        )
                        labels.append(label)
                        raw.append(data)
                        videos.append(video_name)
            result[split] = {
                "images": np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8),
                "labels": np.array(labels),
                "bytes": raw,
                "videos": videos,
                "info": info,
            }
    env.close()
    return result


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    started = time.perf_counter()
    summary = demo.make_demo_dataset(out)
    seconds = time.perf_counter() - started
    return out, summary, seconds, load(out)


def spectral_peaks(images: np.ndarray) -> np.ndarray:
    """Cheap learnability proxy: log power at the first harmonics of 4, 8 and 16 px periods, each
    relative to its neighbours (a periodic generator grid shows as spectral peaks)."""
    x = images.astype(np.float32) / 255.0
    x -= x.mean(axis=(1, 2), keepdims=True)
    power = np.log((np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2).mean(-1) + 1e-8)
    size = images.shape[1]
    feats = []
    for k in sorted({size // 16, size // 8, 3 * size // 16, size // 4}):
        for a, b in ((0, k), (k, 0), (k, k)):
            around = [
                power[:, (a + da) % size, (b + db) % size]
                for da, db in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if (a + da, b + db) != (0, 0)
            ]
            feats.append(power[:, a, b] - np.mean(around, axis=0))
    return np.stack(feats, 1)


def random_conv_features(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Cheap learnability proxy: a frozen random small conv net, its pooled mean and std."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, stride=2, padding=1),
        torch.nn.ReLU(),
    )
    with torch.no_grad():
        h = net(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0)
    return torch.cat([h.mean((2, 3)), h.std((2, 3))], 1).numpy()


def probe_auc(features, train: dict, test: dict) -> float:
    f_train, f_test = features(train["images"]), features(test["images"])
    scaler = StandardScaler().fit(f_train)
    clf = LogisticRegression(max_iter=3000, class_weight="balanced").fit(
        scaler.transform(f_train), train["labels"]
    )
    return float(roc_auc_score(test["labels"], clf.decision_function(scaler.transform(f_test))))


@pytest.mark.slow
def test_default_demo_is_small_fast_and_imbalanced(default_demo):
    out, summary, seconds, data = default_demo
    assert seconds < 60, f"demo dataset took {seconds:.1f} s"
    assert summary.videos == {
        "train": {"real": 600, "fake": 60},
        "val": {"real": 200, "fake": 20},
        "test": {"real": 200, "fake": 20},
    }
    assert (
        summary.label_dict
        == label_dict_for("DemoFaces")
        == {"DemoFaces_real": 0, "DemoFaces_fake": 1}
    )
    for split in SPLITS:
        labels = data[split]["labels"]
        assert (labels == 0).sum() == 10 * (labels == 1).sum()
        assert (labels == 1).sum() >= 20
    assert (out / "json" / "DemoFaces.json").is_file() and (
        out / "lmdb" / "DemoFaces_lmdb" / "data.mdb"
    ).is_file()


@pytest.mark.slow
def test_the_artefact_is_learnable_by_cheap_probes(default_demo):
    data = default_demo[3]
    assert probe_auc(spectral_peaks, data["train"], data["test"]) >= 0.8
    assert probe_auc(random_conv_features, data["train"], data["test"]) >= 0.8


@pytest.mark.slow
def test_nothing_but_the_artefact_tells_the_classes_apart(default_demo):
    out, _, _, data = default_demo
    images = np.concatenate([data[s]["images"] for s in SPLITS])
    labels = np.concatenate([data[s]["labels"] for s in SPLITS])
    raw = [b for s in SPLITS for b in data[s]["bytes"]]
    videos = [v for s in SPLITS for v in data[s]["videos"]]
    assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)  # one size for all
    assert (
        len({b[:33] for b in raw}) == 1
    )  # PNG signature + IHDR (size, depth, colour type) identical
    lengths = np.array([len(b) for b in raw], dtype=float)
    assert roc_auc_score(labels, lengths) < 0.75, "PNG byte length alone separates the classes"
    assert abs(images[labels == 1].mean() - images[labels == 0].mean()) < 5  # no brightness shift
    assert all(re.fullmatch(r"[0-9a-f]{8}", v) for v in videos)  # one name pattern for both classes
    assert len(set(videos)) == len(videos)
    assert 0.3 < roc_auc_score(labels, [int(v, 16) for v in videos]) < 0.7
    info = data["train"]["info"]
    keys = [
        k
        for g in info.values()
        for split in g.values()
        for e in split.values()
        for k in e["frames"]
    ]
    assert {k.rsplit("\\", 1)[1] for k in keys} == {"000.png"}
    # and with the artefact switched off, the same probes are at chance level
    off = out.parent / "demo-off"
    demo.make_demo_dataset(
        off, counts={"train": (300, 100), "val": (0, 0), "test": (100, 100)}, strength=0.0
    )
    plain = load(off)
    assert probe_auc(spectral_peaks, plain["train"], plain["test"]) < 0.7
    assert probe_auc(random_conv_features, plain["train"], plain["test"]) < 0.7


def test_seeded_and_configurable(tmp_path):
    counts = {"train": (8, 2), "val": (4, 2), "test": (4, 2)}
    a = demo.make_demo_dataset(tmp_path / "a", seed=3, counts=counts, size=32, frames_per_video=3)
    demo.make_demo_dataset(tmp_path / "b", seed=3, counts=counts, size=32, frames_per_video=3)
    demo.make_demo_dataset(tmp_path / "c", seed=4, counts=counts, size=32, frames_per_video=3)
    da, db, dc = load(tmp_path / "a"), load(tmp_path / "b"), load(tmp_path / "c")
    assert all(
        da[s]["bytes"] == db[s]["bytes"] and da[s]["videos"] == db[s]["videos"] for s in SPLITS
    )
    assert da["train"]["bytes"] != dc["train"]["bytes"]
    assert (
        a.total_videos == 22
        and a.total_frames == 66
        and da["train"]["images"].shape[1:] == (32, 32, 3)
    )
    info = da["train"]["info"]
    frames = next(iter(info["DemoFaces_real"]["train"].values()))["frames"]
    assert [f.rsplit("\\", 1)[1] for f in frames] == ["000.png", "015.png", "031.png"]
    with pytest.raises(ConfigError, match="multiple of 32"):
        demo.make_demo_dataset(tmp_path / "d", size=40)
    with pytest.raises(ConfigError, match="powers of two"):
        demo.make_demo_dataset(tmp_path / "d", periods=(6,))
    with pytest.raises(ConfigError, match="Unknown split"):
        demo.make_demo_dataset(tmp_path / "d", counts={"training": (1, 1)})


@pytest.mark.e2e
def test_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    demo_data.add_arguments(parser)
    args = parser.parse_args(
        [
            str(tmp_path),
            "--train",
            "20,4",
            "--val",
            "10,2",
            "--test",
            "10,2",
            "--strength",
            "0.1",
            "--no-progress",
        ]
    )
    assert demo_data.run(args) == 0
    out = capsys.readouterr().out
    assert "Dataset DemoFaces: 48 videos" in out and "DemoFaces_fake: 1" in out
    with pytest.raises(SystemExit):
        parser.parse_args([str(tmp_path), "--train", "20"])


def test_demo_is_ready_for_deepfakebench(tmp_path):
    demo.make_demo_dataset(tmp_path, counts={"train": (4, 4), "val": (0, 0), "test": (3, 3)})
    settings = yaml.safe_load((tmp_path / "json" / "deepfakebench.yaml").read_text("utf-8"))
    assert settings["label_dict"] == label_dict_for("DemoFaces")
    assert Path(settings["dataset_json_folder"]) == (tmp_path / "json").resolve()
    assert Path(settings["lmdb_dir"]) == (tmp_path / "lmdb").resolve()
    # DeepfakeBench's video-level metrics group frames by their parent folder's name
    info = json.loads((tmp_path / "json" / "DemoFaces.json").read_text("utf-8"))["DemoFaces"]
    folders = [
        {key.split("\\")[-2] for key in video["frames"]}
        for group in info.values()
        for split in group.values()
        for video in split.values()
    ]
    assert all(len(f) == 1 for f in folders) and len(set().union(*folders)) == len(folders) == 14


def test_reader_reads_the_demo(tmp_path):
    dataset_mod = pytest.importorskip("dfshield.data.dataset")
    config_mod = pytest.importorskip("dfshield.data.config")
    demo.make_demo_dataset(tmp_path, counts={"train": (10, 1), "val": (0, 0), "test": (5, 2)})
    cfg = config_mod.DataConfig(
        train_datasets=["DemoFaces"],
        test_datasets=["DemoFaces"],
        json_dir=str(tmp_path / "json"),
        lmdb_dir=str(tmp_path / "lmdb"),
        label_dict=label_dict_for("DemoFaces"),
        num_workers=0,
    )
    train = dataset_mod.DeepfakeDataset(cfg, "train", resolution=64, augment=False)
    test = dataset_mod.DeepfakeDataset(cfg, "test", resolution=64, augment=False)
    assert sorted(train.labels.tolist()) == [0] * 10 + [1]
    assert sorted(test.labels.tolist()) == [0] * 5 + [1] * 2
    assert tuple(test[0]["image"].shape) == (3, 64, 64)
