"""`dfshield build-lmdb`: sources, frame sampling, face cropping and the builder end to end.

Outputs are read back directly (JSON + LMDB), and through the project's reader where it exists.
The real-video tests use the clips in ../shared/data/videos and are skipped when they are absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfshield.commands import build_lmdb
from dfshield.dataset_builder import builder, sources
from dfshield.dataset_builder.layout import label_dict_for
from dfshield.errors import ConfigError, DataError
from dfshield.media import video
from dfshield.media.faces import FaceBox, FaceCropper, center_crop, square_box
from dfshield.media.frames import decode_image
from tests.helpers import read_dataset, sample_frames, videos_of

SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def shared_videos() -> Path:
    candidates = [Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"]
    if os.environ.get("DFSHIELD_SHARED_DATA"):
        env = Path(os.environ["DFSHIELD_SHARED_DATA"])
        candidates += [env / "videos", env / "data" / "videos", env]
    for path in candidates:
        if (path / "ffpp").is_dir() or (path / "dfdc").is_dir():
            return path
    pytest.skip(
        "real test clips not found (../shared/data/videos or $DFSHIELD_SHARED_DATA); "
        "they are not part of the repository"
    )


def write_image(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 75] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)


def smooth_image(rng: np.random.Generator, h: int = 48, w: int = 64) -> np.ndarray:
    low = rng.uniform(0, 255, (3, 4, 3)).astype(np.float32)
    return np.clip(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """real/: 6 PNGs (one in a subfolder), fake/: 4 JPEGs of another size, and a stray text file."""
    rng = np.random.default_rng(0)
    root = tmp_path / "tree"
    for i in range(5):
        write_image(root / "real" / f"r{i}.png", smooth_image(rng))
    write_image(root / "real" / "sub dir" / "r 5.png", smooth_image(rng))
    for i in range(4):
        write_image(root / "fake" / f"f{i}.jpg", smooth_image(rng, 40, 40))
    (root / "fake" / "notes.txt").write_text("not an image")
    return root


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI here"
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def noise_frames(n: int, seed: int = 0, h: int = 64, w: int = 96) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# the builder's dataset: overwrite
# ---------------------------------------------------------------------------------------------


def test_existing_dataset_needs_overwrite(tmp_path, image_tree):
    builder.build_from_images(image_tree, tmp_path / "out", "Twice", size=32)
    with pytest.raises(DataError, match="overwrite"):
        builder.build_from_images(image_tree, tmp_path / "out", "Twice", size=32)
    builder.build_from_images(image_tree, tmp_path / "out", "Twice", size=32, overwrite=True)


# ---------------------------------------------------------------------------------------------
# frame sampling and video reading
# ---------------------------------------------------------------------------------------------
def test_sample_frame_indices_are_even():
    assert video.sample_frame_indices(300, 4) == [0, 99, 199, 299]
    assert video.sample_frame_indices(3, 32) == [0, 1, 2]
    assert video.sample_frame_indices(0, 5) == []
    idx = video.sample_frame_indices(1000, 32)
    gaps = np.diff(idx)
    assert len(idx) == 32 and idx[0] == 0 and idx[-1] == 999 and gaps.max() - gaps.min() <= 1
    with pytest.raises(ConfigError):
        video.sample_frame_indices(10, 0)


def test_read_frames_and_broken_videos(tmp_path):
    frames = noise_frames(20)
    path = write_video(tmp_path / "ok.avi", frames)
    got = list(video.iter_frames(path, [0, 19, 5]))
    assert [i for i, _ in got] == [0, 5, 19] and got[0][1].shape == (64, 96, 3)
    sampled, n_total = sample_frames(path, 4)
    assert n_total == 20 and [i for i, _ in sampled] == [0, 6, 12, 19]

    # truncated: the header promises 20 frames, half the file is there -> sample over what decodes
    data = path.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    sampled, n_real = sample_frames(tmp_path / "cut.avi", 4)
    assert 0 < n_real < 20 and [i for i, _ in sampled] == video.sample_frame_indices(n_real, 4)

    (tmp_path / "junk.mp4").write_bytes(b"this is not a video" * 10)
    with pytest.raises(DataError, match="junk.mp4"):
        sample_frames(tmp_path / "junk.mp4", 4)
    with pytest.raises(DataError, match="not found"):
        list(video.iter_frames(tmp_path / "missing.mp4", [0]))


# ---------------------------------------------------------------------------------------------
# face cropping
# ---------------------------------------------------------------------------------------------
def test_square_box_stays_square_inside_the_image():
    x0, y0, x1, y1 = square_box(FaceBox(10, 10, 30, 40), 1.3, 100, 80)  # 20x30 face -> 39 px square
    assert (
        x1 - x0 == y1 - y0 == 39 and abs((x0 + x1) / 2 - 20) <= 1 and abs((y0 + y1) / 2 - 25) <= 1
    )
    x0, y0, x1, y1 = square_box(FaceBox(90, 70, 100, 80), 2.0, 100, 80)  # at the corner: shifted in
    assert (x1 - x0 == y1 - y0 == 20) and x1 == 100 and y1 == 80
    x0, y0, x1, y1 = square_box(FaceBox(0, 0, 100, 80), 1.3, 100, 80)  # larger than the image
    assert (x1 - x0, y1 - y0) == (80, 80) and x0 >= 0 and x1 <= 100


def test_face_cropper_options_and_missing_faces():
    with pytest.raises(ConfigError, match="Did you mean 'haar'"):
        FaceCropper("hair")
    with pytest.raises(ConfigError):
        FaceCropper(on_missing="centre-ish")
    noise = noise_frames(1, h=120, w=160)[0]
    assert FaceCropper(size=64).crop(noise) == (None, False)
    crop, found = FaceCropper(size=64, on_missing="center").crop(noise)
    assert not found and crop.shape == (64, 64, 3)
    assert np.array_equal(crop, center_crop(noise, 64))


def test_mtcnn_without_facenet_is_a_clear_error():
    pytest.importorskip("torch")
    try:
        import facenet_pytorch  # noqa: F401

        pytest.skip("facenet-pytorch is installed")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="facenet-pytorch"):
        FaceCropper("mtcnn").crop(np.zeros((32, 32, 3), np.uint8))


def test_haar_finds_the_face_in_a_real_frame():
    clip = shared_videos() / "ffpp/original_sequences/youtube/c23/videos/004.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} absent")
    ((_, rgb),) = list(video.iter_frames(clip, [0]))
    cropper = FaceCropper()
    crop, found = cropper.crop(rgb)
    assert found and crop.shape == (256, 256, 3)
    x0, y0, x1, y1 = cropper.box(rgb)
    assert x1 - x0 == y1 - y0 and 150 < x1 - x0 < 300  # the ~160 px face, ×1.3


# ---------------------------------------------------------------------------------------------
# builder: image trees and CSVs
# ---------------------------------------------------------------------------------------------
def test_image_tree_round_trip(tmp_path, image_tree):
    summary = builder.build_from_images(image_tree, tmp_path / "out", "Tree", seed=1)
    info, values = read_dataset(tmp_path / "out", "Tree")
    vids = videos_of(info, "Tree")
    assert Counter(lab for lab, _ in vids) == {"real": 6, "fake": 4}
    assert ("real", "sub_dir__r_5") in vids  # nested path -> one safe name
    for (lab, vid), (_split, frames) in vids.items():
        assert frames == [f"Tree\\{lab}\\frames\\{lab}_{vid}\\000.png"]  # one-frame video
        image = decode_image(values[frames[0]], "stored frame")
        assert (
            image.shape == (256, 256, 3) and image.dtype == np.uint8
        )  # same size for both classes
    assert len(values) == 10
    assert summary.total_videos == 10 and summary.total_frames == 10
    assert (
        summary.videos["train"]["real"]
        + summary.videos["val"]["real"]
        + summary.videos["test"]["real"]
        == 6
    )
    assert min(summary.videos[s]["fake"] for s in SPLITS) >= 1  # stratified: fakes in every split
    assert any("neither images nor videos" in n for n in summary.notes)
    text = summary.format()
    assert "Tree_real: 0" in text and "10 frames" in text

    again = builder.build_from_images(image_tree, tmp_path / "out2", "Tree", seed=1)
    assert videos_of(read_dataset(tmp_path / "out2", "Tree")[0], "Tree") == vids  # seeded
    assert again.videos == summary.videos


def test_label_csv_with_video_groups(tmp_path, image_tree):
    csv_path = tmp_path / "labels.csv"
    rows = [
        ("tree/real/r0.png", "0", "clipA"),
        ("tree/real/r1.png", "real", "clipA"),
        ("tree/real/r2.png", "REAL", ""),
        ("tree/fake/f0.jpg", "1", ""),
        ("tree/fake/f1.jpg", "fake", ""),
        ("tree/fake/gone.jpg", "fake", ""),
    ]
    with csv_path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["path", "label", "video"])
        w.writerows(rows)
    summary = builder.build_from_images(
        csv_path, tmp_path / "out", "Csv", size=0, fractions=(1, 0, 0)
    )
    info, values = read_dataset(tmp_path / "out", "Csv")
    vids = videos_of(info, "Csv")
    assert set(vids) == {
        ("real", "clipA"),
        ("real", "tree__real__r2"),
        ("fake", "tree__fake__f0"),
        ("fake", "tree__fake__f1"),
    }
    assert [k.rsplit("\\", 1)[1] for k in vids[("real", "clipA")][1]] == ["000.png", "001.png"]
    assert decode_image(values[vids[("real", "clipA")][1][0]], "stored frame").shape == (
        48,
        64,
        3,
    )  # size 0 keeps images
    assert summary.missing == [str(tmp_path / "tree/fake/gone.jpg")]

    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\ntree/real/r0.png,real\ntree/fake/f0.jpg,fakee\n")
    with pytest.raises(DataError, match=r"line 3.*'fakee'.*Did you mean 'fake'"):
        builder.build_from_images(bad, tmp_path / "out", "Bad")
    (tmp_path / "nohead.csv").write_text("tree/real/r0.png,real\n")
    with pytest.raises(DataError, match="header"):
        builder.build_from_images(tmp_path / "nohead.csv", tmp_path / "out", "Bad")


def test_empty_sources_are_clear_errors(tmp_path):
    (tmp_path / "empty" / "real").mkdir(parents=True)
    (tmp_path / "empty" / "fake").mkdir()
    with pytest.raises(DataError, match="No images or videos"):
        builder.build_from_images(tmp_path / "empty", tmp_path / "out", "Empty")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="Cannot tell"):
        builder.build_dataset(tmp_path / "flat", tmp_path / "out", "Flat")
    with pytest.raises(DataError, match="does not exist"):
        builder.build_dataset(tmp_path / "nowhere", tmp_path / "out", "X")
    assert not (tmp_path / "out" / "json").exists()


def test_reencode_is_identical_for_both_classes(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "same"
    pictures = [
        np.clip(smooth_image(rng, 64, 64) + rng.integers(0, 6, (64, 64, 3)), 0, 255).astype(
            np.uint8
        )
        for _ in range(3)
    ]
    for i, pic in enumerate(pictures):  # the same pixels in both classes
        write_image(root / "real" / f"{i}.png", pic)
        write_image(root / "fake" / f"{i}.png", pic)
    builder.build_from_images(root, tmp_path / "out", "Jpeg", size=0, reencode="jpeg:60")
    info, values = read_dataset(tmp_path / "out", "Jpeg")
    vids = videos_of(info, "Jpeg")
    for i, pic in enumerate(pictures):
        real = decode_image(values[vids[("real", str(i))][1][0]], "stored frame")
        fake = decode_image(values[vids[("fake", str(i))][1][0]], "stored frame")
        assert np.array_equal(real, fake)  # same codec, same quality, same pixels out
        assert not np.array_equal(real, pic)  # and the JPEG really ran
        assert np.abs(real.astype(int) - pic).mean() < 8


def test_folder_of_frames_is_one_video_sampled_evenly(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "frames"
    for clip, label in (("a", "real"), ("b", "fake"), ("c", "real")):
        for idx in range(0, 100, 5):  # frames 000, 005, ... 095 already extracted
            write_image(root / label / clip / f"{idx:03d}.png", smooth_image(rng, 32, 32))
    summary = builder.build_from_images(
        root,
        tmp_path / "out",
        "Frames",
        frames=4,
        size=32,
        group_images="folder",
        fractions=(1, 1, 1),
    )
    vids = videos_of(read_dataset(tmp_path / "out", "Frames")[0], "Frames")
    assert set(vids) == {("real", "a"), ("fake", "b"), ("real", "c")}
    chosen = [int(k.rsplit("\\", 1)[1][:-4]) for k in vids[("real", "a")][1]]
    assert chosen == [0, 30, 60, 95]  # original indices of files 0, 6, 12, 19 of the 20
    assert summary.total_frames == 12


# ---------------------------------------------------------------------------------------------
# builder: videos
# ---------------------------------------------------------------------------------------------
def test_video_tree_with_bad_files_and_faceless_frames(tmp_path):
    root = tmp_path / "vids"
    write_video(root / "real" / "noise1.avi", noise_frames(12, 1))
    write_video(root / "fake" / "noise2.avi", noise_frames(12, 2))
    (root / "fake" / "broken.mp4").write_bytes(b"\x00" * 300)

    summary = builder.build_from_videos(
        root, tmp_path / "center", "Center", frames=3, size=32, on_missing="center"
    )
    assert (
        summary.faces_not_found == 6
        and summary.frames_center_cropped == 6
        and summary.frames_skipped == 0
    )
    assert [p for p, _ in summary.failed] == [str(root / "fake" / "broken.mp4")]
    assert "broken.mp4" in summary.format() and "could not be read" in summary.format()
    vids = videos_of(read_dataset(tmp_path / "center", "Center")[0], "Center")
    assert sorted(int(k.rsplit("\\", 1)[1][:-4]) for k in vids[("real", "noise1")][1]) == [0, 5, 11]

    # skip: every frame is faceless -> nothing to write is an error that says why and what to do
    with pytest.raises(DataError, match="on-missing center"):
        builder.build_from_videos(root, tmp_path / "skip", "Skip", frames=3, size=32)
    assert not (tmp_path / "skip" / "json" / "Skip.json").exists()


@pytest.mark.e2e
def test_cli_runs_and_reports(tmp_path, image_tree, capsys):
    parser = argparse.ArgumentParser()
    build_lmdb.add_arguments(parser)
    args = parser.parse_args(
        [
            str(image_tree),
            str(tmp_path / "out"),
            "--name",
            "Cli",
            "--size",
            "64",
            "--split",
            "0.6,0.2,0.2",
            "--seed",
            "5",
            "--reencode",
            "jpeg:95",
            "--no-progress",
        ]
    )
    assert build_lmdb.run(args) == 0
    assert (tmp_path / "out" / "json" / "deepfakebench.yaml").is_file()
    out = capsys.readouterr().out
    assert (
        "Dataset Cli: 10 videos, 10 frames" in out
        and "re-encoded every source image as jpeg:95" in out
    )
    with pytest.raises(SystemExit):
        parser.parse_args([str(image_tree), str(tmp_path / "out"), "--name", "X", "--split", "a,b"])


@pytest.fixture(scope="module")
def ffpp_build(tmp_path_factory):
    root = shared_videos() / "ffpp"
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    out = tmp_path_factory.mktemp("ffpp")
    summary = builder.build_from_videos(root, out, "FFClips", frames=4, seed=0)
    return root, out, summary


@pytest.mark.slow
def test_ffpp_clips(ffpp_build):
    root, out, summary = ffpp_build
    info, values = read_dataset(out, "FFClips")
    vids = videos_of(info, "FFClips")
    assert sorted(v for lab, v in vids if lab == "real") == [
        "youtube_004",
        "youtube_519",
        "youtube_634",
    ]
    assert sorted(v for lab, v in vids if lab == "fake") == [
        "Deepfakes_519_515",
        "Face2Face_750_743",
        "FaceSwap_634_660",
        "NeuralTextures_004_982",
    ]
    # identity guard: a fake shares the split of the real video it was made from
    assert vids[("real", "youtube_519")][0] == vids[("fake", "Deepfakes_519_515")][0]
    assert vids[("real", "youtube_004")][0] == vids[("fake", "NeuralTextures_004_982")][0]
    total = 7 * 4
    assert summary.total_frames + summary.frames_skipped == total
    assert summary.faces_not_found <= total // 10  # faces found on (almost) every frame
    clip = root / "original_sequences/youtube/c23/videos/519.mp4"
    expected = video.sample_frame_indices(video.frame_count(clip), 4)
    got = [int(k.rsplit("\\", 1)[1][:-4]) for k in vids[("real", "youtube_519")][1]]
    assert set(got) <= set(expected) and len(got) >= 3
    for key in vids[("fake", "FaceSwap_634_660")][1]:
        assert key.startswith("FFClips\\fake\\frames\\fake_FaceSwap_634_660\\")
        assert decode_image(values[key], "stored frame").shape == (256, 256, 3)
    assert any("c23" in n for n in summary.notes)


@pytest.mark.slow
def test_dfdc_clips_with_metadata(tmp_path):
    root = shared_videos() / "dfdc"
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    summary = builder.build_from_videos(root, tmp_path, "DFDCClips", frames=4, workers=2)
    vids = videos_of(read_dataset(tmp_path, "DFDCClips")[0], "DFDCClips")
    assert {lab for lab, _ in vids} == {"fake"}  # metadata says FAKE for all three clips
    assert {v for _, v in vids} == {"brtujopkby", "widuwuoiur", "yhffcuhhjy"}
    assert summary.faces_not_found <= 12 // 3  # most frames have a face
    # metadata.json lists a clip that is not in the sample: reported, not fatal
    assert [Path(p).name for p in summary.missing] == ["awnfpubqmo.mp4"]


def test_layout_detection_on_real_folders():
    videos = shared_videos()
    if (videos / "ffpp").is_dir():
        assert sources.detect_layout(videos / "ffpp") == "ffpp"
    if (videos / "dfdc").is_dir():
        assert sources.detect_layout(videos / "dfdc") == "dfdc"
    if (videos / "ffpp").is_dir() and (videos / "dfdc").is_dir():
        with pytest.raises(DataError, match="--layout"):
            sources.detect_layout(videos)


# ---------------------------------------------------------------------------------------------
# through the project's reader
# ---------------------------------------------------------------------------------------------
def test_reader_reads_what_the_builder_wrote(tmp_path, image_tree):
    dataset_mod = pytest.importorskip("dfshield.data.dataset")
    config_mod = pytest.importorskip("dfshield.data.config")
    builder.build_from_images(
        image_tree, tmp_path, "ReadBack", size=64, fractions=(0.5, 0.25, 0.25)
    )
    cfg = config_mod.DataConfig(
        train_datasets=["ReadBack"],
        test_datasets=["ReadBack"],
        json_dir=str(tmp_path / "json"),
        lmdb_dir=str(tmp_path / "lmdb"),
        label_dict=label_dict_for("ReadBack"),
        num_workers=0,
    )
    info = json.loads((tmp_path / "json" / "ReadBack.json").read_text())["ReadBack"]
    seen = 0
    for split in SPLITS:
        expected = sorted(
            [0] * len(info["ReadBack_real"][split]) + [1] * len(info["ReadBack_fake"][split])
        )
        if not expected:
            continue
        ds = dataset_mod.DeepfakeDataset(cfg, split, resolution=64, augment=False)
        assert sorted(ds.labels.tolist()) == expected
        sample = ds[0]
        assert tuple(sample["image"].shape) == (3, 64, 64)
        seen += len(ds)
    assert seen == 10
