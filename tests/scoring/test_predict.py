"""``dfshield predict`` and the Scorer: same scores as ``Trainer.test``, the dataset's exact
preprocessing, images, folders and real videos, video-mode detectors, thresholds, and one clear
message per bad input (the other inputs still scored)."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dfshield import cli
from dfshield.commands import predict
from dfshield.config import load_run_config
from dfshield.engine.checkpoint import load_checkpoint, save_checkpoint
from dfshield.errors import CheckpointError, ConfigError
from dfshield.scoring.scorer import Scorer, frame_preprocessor, resolve_threshold
from tests.helpers import SHARED_DATA, sample_frames, toy_image, toy_layer, train_tiny_checkpoint

VIDEOS = SHARED_DATA / "videos"
REAL_VIDEO = VIDEOS / "ffpp" / "original_sequences" / "youtube" / "c23" / "videos" / "004.mp4"
FAKE_VIDEO = (
    VIDEOS / "ffpp" / "manipulated_sequences" / "NeuralTextures" / "c23" / "videos" / "004_982.mp4"
)


@pytest.fixture(scope="module")
def trained(toy_dataset, tmp_path_factory):
    return train_tiny_checkpoint(toy_dataset, tmp_path_factory.mktemp("tiny-run"))


def run_predict(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    return predict.run(parser.parse_args([*argv, "--no-progress", "--device", "cpu"]))


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_video(path: Path, frames: int = 12, size=(96, 64), seed: int = 0) -> Path:
    """A short MJPEG AVI of random noise (no face anywhere)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert writer.isOpened()
    rng = np.random.default_rng(seed)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


def read_rows(path: Path) -> list[dict]:
    return json.loads(path.read_text())["rows"]


# -- same scores as Trainer.test ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
def test_predict_gives_the_scores_of_trainer_test(trained, tmp_path):
    trainer = trained["trainer"]
    dataset = trainer.dataset("test")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, (name, key) in enumerate(zip(dataset.item_datasets, dataset.frame_keys)):
        # the stored PNG bytes, untouched: predict decodes them as the dataset does
        (folder / f"{i:04d}.png").write_bytes(dataset.store(name).get(key, dataset=name))
    out = tmp_path / "scores.json"
    assert (
        run_predict(str(folder), "--checkpoint", str(trained["checkpoint"]), "--out", str(out)) == 0
    )
    rows = read_rows(out)
    assert [r["kind"] for r in rows] == ["image"] * len(dataset)
    assert all(r["face_found"] is None for r in rows)  # images are not face-cropped by default
    with (trained["run_dir"] / "test_scores.csv").open() as handle:
        expected = list(csv.DictReader(handle))
    assert len(expected) == len(rows)
    got = np.array([r["prob_fake"] for r in rows])
    want = np.array([float(e["prob_fake"]) for e in expected])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got, trained["test"]["scores"], atol=1e-5, rtol=0)
    # logit and probability agree; decisions follow the checkpoint's validation threshold
    threshold = load_checkpoint(trained["checkpoint"])["threshold"]["value"]
    for row in rows:
        assert row["prob_fake"] == pytest.approx(1 / (1 + math.exp(-row["logit"])), abs=1e-6)
        assert row["decision"] == ("fake" if row["prob_fake"] >= threshold else "real")


@pytest.mark.slow
def test_scorer_preprocessing_is_the_datasets(trained):
    """Both input paths of DeepfakeDataset: a backbone's own transform, and resize + normalise."""
    from dfshield.data import DeepfakeDataset
    from dfshield.media.frames import decode_image

    cfg = trained["cfg"]
    scorer = Scorer.from_checkpoint(trained["checkpoint"], device="cpu")
    specs = [
        scorer.detector.input_spec(),
        {
            "mode": "frame",
            "resolution": 48,
            "mean": (0.4, 0.5, 0.6),
            "std": (0.2, 0.25, 0.3),
            "preprocess": None,
        },
    ]
    for spec in specs:
        dataset = DeepfakeDataset(cfg.data, "test", augment=False, **spec)
        prepare = frame_preprocessor(spec)
        for i in range(0, len(dataset), 7):
            name, key = dataset.item_datasets[i], dataset.frame_keys[i]
            rgb = decode_image(dataset.store(name).get(key, dataset=name), key)
            assert torch.equal(prepare(rgb), dataset[i]["image"])


# -- images, folders, bad inputs ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
def test_images_folders_and_bad_inputs(trained, tmp_path, capsys):
    rng = np.random.default_rng(7)
    folder = tmp_path / "media"
    write_png(folder / "real.png", toy_image(rng, fake=False))
    write_png(folder / "deep" / "er" / "fake.png", toy_image(rng, fake=True))
    (folder / "notes.txt").write_text("not media")
    good = (folder / "real.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "garbage.jpg").write_bytes(b"\x00" * 100)
    video = write_video(tmp_path / "clip.mp4")
    (folder / "truncated.mp4").write_bytes(video.read_bytes()[:200])
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "rows.csv"
    code = run_predict(
        str(folder),
        str(empty),
        str(tmp_path / "missing.png"),
        "--checkpoint",
        str(trained["checkpoint"]),
        "--out",
        str(out),
    )
    assert code == 0  # two images could be scored
    captured = capsys.readouterr()
    rows = {row["path"]: row for row in csv.DictReader(out.open())}
    scored = {Path(p).name for p, r in rows.items() if r["status"] == "ok"}
    assert scored == {"real.png", "fake.png"}
    for name in ("real.png", "fake.png"):
        row = rows[str(folder / name) if name == "real.png" else str(folder / "deep" / "er" / name)]
        assert row["kind"] == "image" and row["decision"] in ("fake", "real")
        assert 0 <= float(row["prob_fake"]) <= 1
    expected_errors = {
        folder / "notes.txt": "not an image or video",
        folder / "truncated.png": "cannot decode image",
        folder / "garbage.jpg": "cannot decode image",
        folder / "truncated.mp4": "Cannot open video",
        empty: "holds no images or videos",
        tmp_path / "missing.png": "no such file or folder",
    }
    for path, message in expected_errors.items():
        row = rows[str(path)]
        assert row["status"] == "error" and message in row["message"], row
        assert row["prob_fake"] == ""
        assert f"error: {path}: " in captured.err  # one clear message per bad item
    assert "scored 2 image(s) and 0 video(s)" in captured.out


@pytest.mark.slow
@pytest.mark.e2e
def test_nothing_scored_exits_non_zero(trained, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.md").write_text("hello")
    assert (
        run_predict(str(empty), str(tmp_path / "other"), "--checkpoint", str(trained["checkpoint"]))
        == 1
    )
    captured = capsys.readouterr()
    assert "nothing could be scored" in captured.err
    assert "holds no images or videos (no files)" in captured.err
    assert "holds no images or videos (only 1 other file(s))" in captured.err


@pytest.mark.slow
@pytest.mark.e2e
def test_video_without_a_face_is_scored_on_centre_crops_or_skipped(trained, tmp_path, capsys):
    video = write_video(tmp_path / "noface.avi", frames=12)
    out = tmp_path / "rows.json"
    assert (
        run_predict(
            str(video),
            "--frames",
            "4",
            "--checkpoint",
            str(trained["checkpoint"]),
            "--out",
            str(out),
        )
        == 0
    )
    rows = read_rows(out)
    frames = [r for r in rows if r["kind"] == "frame"]
    (head,) = [r for r in rows if r["kind"] == "video"]
    assert [r["frame_index"] for r in frames] == [0, 3, 7, 11]
    assert all(r["face_found"] is False and r["status"] == "ok" for r in frames)
    assert head["face_found"] is False and head["n_frames"] == 4
    assert head["prob_fake"] == pytest.approx(np.mean([r["prob_fake"] for r in frames]))
    assert "no face found in 4/4 frame(s); scored on the centre square" in capsys.readouterr().err

    assert (
        run_predict(
            str(video),
            "--frames",
            "4",
            "--on-missing",
            "skip",
            "--checkpoint",
            str(trained["checkpoint"]),
            "--out",
            str(out),
        )
        == 1
    )
    rows = read_rows(out)
    assert [r["status"] for r in rows] == ["skipped"] * 4 + ["error"]
    assert "no face found in any of 4 frame(s)" in rows[-1]["message"]


@pytest.mark.slow
@pytest.mark.e2e
def test_truncated_video_is_sampled_from_the_frames_that_decode(trained, tmp_path, capsys):
    data = write_video(tmp_path / "full.avi", frames=12).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "rows.json"
    assert (
        run_predict(
            str(cut),
            "--frames",
            "4",
            "--face-crop",
            "never",
            "--checkpoint",
            str(trained["checkpoint"]),
            "--out",
            str(out),
        )
        == 0
    )
    rows = read_rows(out)
    head = rows[-1]
    assert head["kind"] == "video" and head["status"] == "ok" and "truncated" in head["message"]
    assert all(r["face_found"] is None for r in rows)  # --face-crop never: no detection
    assert "truncated" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.e2e
def test_incompatible_checkpoint_is_a_clear_error(trained, tmp_path, monkeypatch, capsys):
    payload = load_checkpoint(trained["checkpoint"])
    old = tmp_path / "old.pt"
    torch.save({**payload, "format_version": 99}, old)
    image = write_png(tmp_path / "a.png", toy_image(np.random.default_rng(0), fake=False))
    monkeypatch.setitem(cli.COMMANDS, "predict", ("dfshield.commands.predict", "score media"))
    assert cli.main(["predict", str(image), "--checkpoint", str(old), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint format version 99" in err and "Use the dfshield version that wrote it" in err
    with pytest.raises(CheckpointError, match="not a readable dfshield checkpoint"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        Scorer.from_checkpoint(tmp_path / "junk.pt")


# -- thresholds ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
def test_thresholds(trained, tmp_path):
    from dfshield.eval.metrics import threshold_at_fpr

    payload = load_checkpoint(trained["checkpoint"])
    eer = resolve_threshold(payload, "eer")
    assert eer.value == payload["threshold"]["value"] and eer.rule == "eer"
    assert eer.chosen_on == "validation split"
    assert resolve_threshold(payload, "0.7").value == 0.7
    stored = payload["validation"]  # best.pt keeps the validation scores it was chosen on
    from_checkpoint = resolve_threshold(payload, "fpr:0.01")
    assert from_checkpoint.value == threshold_at_fpr(
        stored["scores"].numpy(), stored["labels"].numpy(), 0.01
    )
    without_scores = {k: v for k, v in payload.items() if k != "validation"}
    with pytest.raises(
        CheckpointError, match="needs the validation scores.*only the 'eer' threshold"
    ):
        resolve_threshold(without_scores, "fpr:0.01")
    scores, labels = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.9]), np.array([0, 0, 0, 0, 1, 1])
    with_scores = {
        **payload,
        "validation": {"scores": torch.tensor(scores), "labels": torch.tensor(labels)},
    }
    fpr = resolve_threshold(with_scores, "fpr:0.25")
    assert fpr.value == threshold_at_fpr(scores, labels, 0.25) and fpr.rule == "fpr:0.25"
    for bad in ("1.5", "fpr:2", "median"):
        with pytest.raises(ConfigError):
            resolve_threshold(payload, bad)
    assert resolve_threshold({}, "eer").value == 0.5  # no stored threshold: 0.5, with a warning

    image = write_png(tmp_path / "a.png", toy_image(np.random.default_rng(0), fake=True))
    out = tmp_path / "rows.json"
    for value, decision in (("0", "fake"), ("1", "real")):
        assert (
            run_predict(
                str(image),
                "--threshold",
                value,
                "--checkpoint",
                str(trained["checkpoint"]),
                "--out",
                str(out),
            )
            == 0
        )
        data = json.loads(out.read_text())
        assert data["threshold"]["rule"] == "fixed" and data["rows"][0]["decision"] == decision


# -- real videos -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(
    not REAL_VIDEO.is_file() or not FAKE_VIDEO.is_file(),
    reason=f"shared videos not found under {VIDEOS}",
)
@pytest.mark.slow
@pytest.mark.e2e
def test_real_videos_per_frame_and_per_video_rows(trained, tmp_path):
    from dfshield.media.faces import FaceCropper

    out = tmp_path / "videos.json"
    assert (
        run_predict(
            str(REAL_VIDEO),
            str(FAKE_VIDEO),
            "--frames",
            "4",
            "--aggregate",
            "max",
            "--checkpoint",
            str(trained["checkpoint"]),
            "--out",
            str(out),
        )
        == 0
    )
    rows = read_rows(out)
    assert [r["kind"] for r in rows] == ["frame"] * 4 + ["video"] + ["frame"] * 4 + ["video"]
    for video, block in ((REAL_VIDEO, rows[:5]), (FAKE_VIDEO, rows[5:])):
        frames, head = block[:4], block[4]
        assert all(r["path"] == str(video) for r in block)
        assert all(r["face_found"] is True for r in frames) and head["face_found"] is True
        assert head["n_frames"] == 4 and head["prob_fake"] == max(r["prob_fake"] for r in frames)
    # the frames are build-lmdb's: even sampling, FaceCropper(scale 1.3, 256 px)
    sampled, _ = sample_frames(REAL_VIDEO, 4)
    assert [r["frame_index"] for r in rows[:4]] == [index for index, _ in sampled]
    crops = [FaceCropper(scale=1.3, size=256).crop(rgb)[0] for _, rgb in sampled]
    _, probs = Scorer.from_checkpoint(trained["checkpoint"], device="cpu").score_images(crops)
    np.testing.assert_allclose([r["prob_fake"] for r in rows[:4]], probs, atol=1e-6)


# -- video-mode detectors ----------------------------------------------------------------------
@pytest.mark.e2e
def test_video_mode_detector_reports_video_head_and_frame_head(toy_dataset, tmp_path):
    from dfshield.detectors import build_detector

    layer = toy_layer(toy_dataset, tmp_path)[1]
    layer["detector"] = {
        "backbone": {"name": "timm", "model": "resnet10t", "pretrained": False},
        "input_size": 32,
        "gru_hidden": 8,
        "gru_layers": 1,
    }
    layer["data"]["clip_size"] = 4
    cfg = load_run_config(detector="ddln", extra_layers=[("ddln test layer", layer)])
    torch.manual_seed(0)
    detector = build_detector(cfg.detector)
    checkpoint = tmp_path / "ddln.pt"
    saved = cfg.to_dict()  # as trained from ImageNet weights: predict must not fetch them again
    saved["detector"]["backbone"]["pretrained"] = True
    save_checkpoint(
        checkpoint,
        {
            "detector": "ddln",
            "config": saved,
            "epoch": 1,
            "model": detector.trainable_state_dict(),
            "backbone": None,
            "threshold": {"value": 0.5, "rule": "eer", "chosen_on": "validation split"},
        },
    )
    image = write_png(tmp_path / "a.png", toy_image(np.random.default_rng(0), fake=True))
    video = write_video(tmp_path / "v.avi", frames=10)
    out = tmp_path / "rows.json"
    assert (
        run_predict(
            str(image),
            str(video),
            "--frames",
            "6",
            "--face-crop",
            "never",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert data["video_score"] == "video head"
    rows = data["rows"]
    assert [r["kind"] for r in rows] == ["image"] + ["frame"] * 6 + ["video"]

    scorer = Scorer.from_checkpoint(checkpoint, device="cpu")
    rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
    one = scorer.score_clips([[rgb] * 4])  # an image is a one-frame clip, repeated T times
    assert rows[0]["prob_fake"] == pytest.approx(float(one["prob"][0]), abs=1e-6)
    # 6 frames, clips of 4: one centred clip (frames.select_clips), the 2 outer frames left out
    frames, head = rows[1:7], rows[7]
    assert [r["status"] for r in frames] == ["skipped", "ok", "ok", "ok", "ok", "skipped"]
    assert "outside the clip(s) of 4 frames" in frames[0]["message"]

    sampled, _ = sample_frames(video, 6)
    clip = scorer.score_clips([[rgb for _, rgb in sampled[1:5]]])
    assert head["prob_fake"] == pytest.approx(float(clip["prob"][0]), abs=1e-6)
    assert head["logit"] == pytest.approx(float(clip["logit"][0]), abs=1e-5)
    np.testing.assert_allclose(
        [r["prob_fake"] for r in frames[1:5]], clip["frame_prob"][0], atol=1e-6
    )
    assert "video head" in head["message"]


@pytest.mark.slow
@pytest.mark.e2e
def test_bad_options(trained, tmp_path):
    image = write_png(tmp_path / "a.png", toy_image(np.random.default_rng(0), fake=True))
    with pytest.raises(ConfigError, match="--out"):
        run_predict(
            str(image), "--checkpoint", str(trained["checkpoint"]), "--out", str(tmp_path / "x.txt")
        )
    with pytest.raises(ConfigError, match="--frames"):
        run_predict(str(image), "--checkpoint", str(trained["checkpoint"]), "--frames", "0")


# -- one media pipeline with build-lmdb ------------------------------------------------------
def write_sideways_jpeg(path: Path, upright: np.ndarray) -> Path:
    """``upright`` stored as a phone stores a portrait photo: the pixels turned on their side and
    an EXIF orientation tag (6: turn 90° clockwise to show it)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(upright))).save(path, quality=95, exif=exif)
    return path


def test_predict_reads_an_image_as_build_lmdb_stores_it(tmp_path):
    """Both read files through ``media.pipeline.read_media``: the same decoder, upright by EXIF."""
    import lmdb

    from dfshield.dataset_builder.builder import build_from_images
    from dfshield.media.frames import decode_image
    from dfshield.media.pipeline import read_media
    from dfshield.scoring.predict import PredictOptions

    rng = np.random.default_rng(3)
    upright = cv2.resize(toy_image(rng, fake=False, size=32), (48, 32))  # 32 high, 48 wide
    tree = tmp_path / "tree"
    (tree / "real").mkdir(parents=True)
    photo = write_sideways_jpeg(tree / "real" / "photo.jpg", upright)
    write_png(tree / "fake" / "other.png", upright)
    build_from_images(tree, tmp_path / "out", "Exif", size=0, fractions=(1, 0, 0))
    env = lmdb.open(str(tmp_path / "out" / "lmdb" / "Exif_lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        (stored,) = [bytes(v) for k, v in txn.cursor() if b"\\real\\" in k]
    env.close()

    media = read_media(photo, PredictOptions(face_crop="never").media_options())
    (frame,) = media.frames
    assert frame.rgb.shape == upright.shape and frame.face_found is None
    assert np.abs(frame.rgb.astype(int) - upright).mean() < 6  # upright, up to JPEG loss
    np.testing.assert_array_equal(
        frame.rgb, decode_image(stored, "stored frame")
    )  # what build-lmdb stored


@pytest.mark.slow
@pytest.mark.e2e
def test_workers_give_the_rows_of_the_main_process(trained, tmp_path):
    rng = np.random.default_rng(5)
    for i in range(3):
        write_png(tmp_path / "media" / f"{i}.png", toy_image(rng, fake=i == 1))
    write_video(tmp_path / "media" / "clip.avi", frames=6)
    rows = []
    for workers in ("0", "1"):
        out = tmp_path / f"rows-{workers}.json"
        argv = [str(tmp_path / "media"), "--checkpoint", str(trained["checkpoint"])]
        assert run_predict(*argv, "--frames", "3", "--workers", workers, "--out", str(out)) == 0
        rows.append(read_rows(out))
    assert len(rows[0]) == 3 + 3 + 1 and rows[0] == rows[1]


# -- trust: names, NaN, memory ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
def test_undecodable_file_name_is_escaped(trained, tmp_path):
    import os

    folder = tmp_path / "media"
    write_png(folder / "ok.png", toy_image(np.random.default_rng(0), fake=False))
    raw = os.fsencode(folder) + b"/caf\xe9.png"  # Latin-1 bytes: not UTF-8
    with open(raw, "wb") as handle:
        handle.write((folder / "ok.png").read_bytes())
    out = tmp_path / "rows.csv"
    out.write_text("previous contents\n")
    assert (
        run_predict(str(folder), "--checkpoint", str(trained["checkpoint"]), "--out", str(out)) == 0
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [Path(row["path"]).name for row in rows] == ["caf\\xe9.png", "ok.png"]
    assert all(row["status"] == "ok" for row in rows)


@pytest.mark.slow
@pytest.mark.e2e
def test_nan_weights_or_threshold_never_give_a_decision(trained, tmp_path, capsys):
    payload = load_checkpoint(trained["checkpoint"])
    image = write_png(tmp_path / "a.png", toy_image(np.random.default_rng(0), fake=True))
    nan_weights = tmp_path / "damaged.pt"
    model = {key: torch.full_like(value, math.nan) for key, value in payload["model"].items()}
    save_checkpoint(nan_weights, {**payload, "model": model})
    out = tmp_path / "rows.json"
    assert run_predict(str(image), "--checkpoint", str(nan_weights), "--out", str(out)) == 1
    (row,) = read_rows(out)
    assert row["status"] == "error" and row["decision"] is None and "NaN" in row["message"]
    captured = capsys.readouterr()
    table = captured.out.splitlines()[1:]  # below the threshold line
    assert not [line for line in table if " real" in line or " fake" in line or " nan" in line]
    assert "non-finite score (NaN)" in captured.err and "nothing could be scored" in captured.err

    nan_threshold = tmp_path / "damaged-threshold.pt"
    save_checkpoint(
        nan_threshold, {**payload, "threshold": {**payload["threshold"], "value": math.nan}}
    )
    with pytest.raises(
        CheckpointError, match="threshold .* is nan .*not a probability.*--threshold"
    ):
        run_predict(str(image), "--checkpoint", str(nan_threshold))


@pytest.mark.slow
@pytest.mark.e2e
def test_a_long_video_is_scored_while_it_is_decoded(trained, tmp_path, monkeypatch):
    """Frames are scored in batches as they are decoded: at most a batch of frames waits."""
    video = write_video(tmp_path / "long.avi", frames=48)
    decoded, waiting = [0], []

    capture = cv2.VideoCapture

    class CountingCapture:  # a wrapper: a Python subclass of the OpenCV type can crash in GC
        def __init__(self, *args):
            self.capture = capture(*args)

        def retrieve(self, *args):
            decoded[0] += 1
            return self.capture.retrieve(*args)

        def __getattr__(self, name):
            return getattr(self.capture, name)

    score_tensors = Scorer.score_tensors

    def counting_score(self, images=None, features=None):
        waiting.append(decoded[0] - sum(waiting_scored))
        waiting_scored.append(len(images))
        return score_tensors(self, images, features)

    waiting_scored: list[int] = []
    monkeypatch.setattr(cv2, "VideoCapture", CountingCapture)
    monkeypatch.setattr(Scorer, "score_tensors", counting_score)
    argv = ["--frames", "48", "--batch-size", "8", "--face-crop", "never"]
    assert run_predict(str(video), "--checkpoint", str(trained["checkpoint"]), *argv) == 0
    assert decoded[0] == 48 and sum(waiting_scored) == 48
    assert max(waiting) <= 8, waiting  # the old reader decoded all 48 before scoring any
