"""DeepfakeDataset: frame and video mode, LMDBs and folders, workers, augmentation, bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from dfshield.data import (
    AugmentConfig,
    DataConfig,
    DeepfakeDataset,
    MissingKeyError,
    collate,
    make_loader,
    pil_preprocess,
)
from dfshield.data.pixels import to_chw
from dfshield.errors import ConfigError, DataError
from dfshield.media.frames import select_frames
from tests.fixtures import datagen as dg  # tests/fixtures/datagen.py

FIX = dg.FIXTURES
RES = 16
NO_AUG = AugmentConfig(enabled=False)


def config(lmdb_dir=None, **kwargs):
    kwargs.setdefault("json_dir", str(FIX))
    kwargs.setdefault("num_workers", 0)
    return DataConfig(lmdb_dir=str(lmdb_dir) if lmdb_dir else None, **kwargs)


def left_colour(image, mean=0.5, std=0.5):
    """The RGB colour at the left edge of a normalised (3,H,W) image."""
    column = image[:, image.shape[1] // 2, 0] * std + mean
    return tuple(int(v) for v in (column * 255).round())


def assert_colour(image, key, tol=2, **norm):
    got, want = left_colour(image, **norm), dg.colour(key)
    assert all(abs(g - w) <= tol for g, w in zip(got, want)), (key, got, want)


@pytest.fixture
def ff_lmdb(tmp_path):
    dg.build_lmdb(
        tmp_path / "lmdb",
        "FaceForensics++",
        "FaceForensics++",
        style="windows",
        masks=True,
        landmarks=True,
    )
    return tmp_path / "lmdb"


@pytest.fixture
def both_lmdbs(tmp_path):
    dg.build_lmdb(tmp_path / "lmdb", "FaceForensics++", "FaceForensics++", style="windows")
    dg.build_lmdb(
        tmp_path / "lmdb", "Celeb-DF-v2", "Celeb-DF-v2", style="linux"
    )  # mixed separators
    return tmp_path / "lmdb"


def test_frame_mode_items_labels_ids_and_pixels(ff_lmdb):
    ds = DeepfakeDataset(
        config(ff_lmdb, frame_num={"train": 4}, augment=NO_AUG), "train", resolution=RES
    )
    records = ds.records
    assert [r.video_path.rsplit("/", 1)[1] for r in records] == ["000_001", "001_000", "000", "001"]
    expected_keys = [k for r in records for k in select_frames(r.frames, 4)]
    assert ds.frame_keys == expected_keys and len(ds) == 4 + 2 + 4 + 4  # 001_000 has only 2 frames
    assert ds.labels.tolist() == [1] * 6 + [0] * 8
    assert ds.class_counts == {"real": 8, "fake": 6}
    assert ds.video_ids[0] == "FaceForensics++/manipulated_sequences/Deepfakes/c23/frames/000_001"
    # evenly spaced, not the first four: 000, 020, 030, 050 of 000, 010, ..., 050
    assert [Path(k.replace("\\", "/")).stem for k in ds.frame_keys[:4]] == [
        "000",
        "020",
        "030",
        "050",
    ]
    for index in range(len(ds)):
        item = ds[index]
        assert item["image"].shape == (3, RES, RES) and item["image"].dtype == torch.float32
        assert item["label"] == ds.labels[index] and item["index"] == index
        assert item["video_id"] == ds.video_ids[index] and item["frame_key"] == ds.frame_keys[index]
        assert item["dataset"] == "FaceForensics++"
        assert item["landmark"] is None and item["mask"] is None
        assert_colour(item["image"], item["frame_key"])


def test_frame_sampling_first_keeps_the_first_frames_like_deepfakebench(ff_lmdb):
    cfg = config(ff_lmdb, frame_num={"train": 4}, frame_sampling="first", augment=NO_AUG)
    ds = DeepfakeDataset(cfg, "train", resolution=RES)
    records = ds.records
    assert ds.frame_keys == [k for r in records for k in r.frames[:4]]  # frames sorted by number
    # video 000_001 has frames 000, 010, ..., 050: the first four, not 000, 020, 030, 050
    assert [Path(k.replace("\\", "/")).stem for k in ds.frame_keys[:4]] == [
        "000",
        "010",
        "020",
        "030",
    ]
    assert_colour(ds[3]["image"], ds.frame_keys[3])


def test_test_split_is_deterministic_and_never_augmented(ff_lmdb):
    cfg = config(ff_lmdb)  # default augmentation: on for train only
    first, second = (
        DeepfakeDataset(cfg, "test", resolution=RES),
        DeepfakeDataset(cfg, "test", resolution=RES),
    )
    assert not first.augment and not DeepfakeDataset(cfg, "val", resolution=RES).augment
    assert DeepfakeDataset(cfg, "train", resolution=RES).augment
    assert first.frame_keys == second.frame_keys
    for i in range(len(first)):
        assert torch.equal(first[i]["image"], second[i]["image"])
        assert torch.equal(first[i]["image"], first[i]["image"])
    batches = list(make_loader(first, batch_size=4))
    assert sum(len(b["label"]) for b in batches) == len(first)
    assert [
        k for b in batches for k in b["frame_key"]
    ] == first.frame_keys  # test loader keeps order


def test_train_augmentation_is_applied_and_seedable(ff_lmdb):
    flip_only = AugmentConfig(
        flip_prob=1.0, blur_prob=0, brightness_contrast_prob=0, jpeg_prob=0, isotropic_resize=False
    )
    ds = DeepfakeDataset(config(ff_lmdb, augment=flip_only), "train", resolution=RES)
    item = ds[0]
    inverted = tuple(255 - c for c in dg.colour(item["frame_key"]))
    assert all(abs(g - w) <= 2 for g, w in zip(left_colour(item["image"]), inverted))  # flipped
    full = DeepfakeDataset(
        config(ff_lmdb, augment=AugmentConfig(rotate_prob=0.5)), "train", resolution=RES
    )
    torch.manual_seed(3)
    a = [full[i]["image"] for i in range(len(full))]
    torch.manual_seed(3)
    b = [full[i]["image"] for i in range(len(full))]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(x.shape == (3, RES, RES) for x in a)
    off = DeepfakeDataset(
        config(ff_lmdb, augment=flip_only), "train", resolution=RES, augment=False
    )
    assert_colour(off[0]["image"], off[0]["frame_key"])


def test_resolution_mean_std_and_preprocess_come_from_the_backbone(ff_lmdb):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ds = DeepfakeDataset(config(ff_lmdb), "test", resolution=8, mean=mean, std=std)
    image = ds[0]["image"]
    assert image.shape == (3, 8, 8)
    raw = image[:, 4, 0] * torch.tensor(std) + torch.tensor(mean)
    assert np.allclose((raw * 255).numpy(), dg.colour(ds[0]["frame_key"]), atol=2)

    seen = []

    def preprocess(array):
        seen.append(array.shape)
        return torch.from_numpy(array).permute(2, 0, 1).float()

    raw_ds = DeepfakeDataset(config(ff_lmdb), "test", preprocess=preprocess)
    assert raw_ds[0]["image"].shape == (3, dg.HEIGHT, dg.WIDTH) and seen == [
        (dg.HEIGHT, dg.WIDTH, 3)
    ]
    assert tuple(raw_ds[0]["image"][:, 0, 0].int().tolist()) == dg.colour(raw_ds[0]["frame_key"])

    from torchvision import transforms

    pil = pil_preprocess(transforms.Compose([transforms.Resize((12, 12)), transforms.ToTensor()]))
    assert DeepfakeDataset(config(ff_lmdb), "test", preprocess=pil)[0]["image"].shape == (3, 12, 12)
    with pytest.raises(DataError, match=r"preprocess must return a \(3, H, W\) tensor"):
        DeepfakeDataset(config(ff_lmdb), "test", preprocess=lambda a: a)[0]


def test_video_mode_clips(ff_lmdb):
    cfg = config(ff_lmdb, frame_num={"train": 6}, clip_size=3, augment=NO_AUG)
    ds = DeepfakeDataset(cfg, "train", mode="video", resolution=RES)
    stems = [[Path(k.replace("\\", "/")).stem for k in clip] for clip in ds.frame_keys]
    assert stems == [
        ["000", "010", "020"],
        ["030", "040", "050"],  # 000_001: 6 frames -> 2 clips
        ["000", "008", "008"],  # 001_000: 2 frames, repeated evenly
        ["000", "003", "020"],
        ["040", "100", "1005"],  # 000
        ["010", "020", "030"],  # 001: 4 frames -> one centred clip
    ]
    assert ds.labels.tolist() == [1, 1, 1, 0, 0, 0]
    item = ds[0]
    assert item["image"].shape == (3, 3, RES, RES) and isinstance(item["frame_key"], list)
    for t, key in enumerate(item["frame_key"]):
        assert_colour(item["image"][t], key)
    batch = next(iter(make_loader(ds, batch_size=4, shuffle=False)))
    assert batch["image"].shape == (4, 3, 3, RES, RES) and batch["label"].tolist() == [1, 1, 1, 0]
    assert batch["video_id"][0] == batch["video_id"][1] != batch["video_id"][2]


def test_video_mode_clip_shares_one_augmentation(ff_lmdb):
    flip_half = AugmentConfig(
        flip_prob=0.5, blur_prob=0, brightness_contrast_prob=0, jpeg_prob=0, isotropic_resize=False
    )
    ds = DeepfakeDataset(
        config(ff_lmdb, frame_num={"train": 6}, clip_size=3, augment=flip_half),
        "train",
        mode="video",
        resolution=RES,
    )
    torch.manual_seed(0)
    for _ in range(6):
        item = ds[0]
        flipped = [
            left_colour(item["image"][t]) != dg.colour(k) for t, k in enumerate(item["frame_key"])
        ]
        assert len(set(flipped)) == 1  # every frame of the clip flipped, or none


def test_dataloader_with_two_workers_over_one_lmdb(ff_lmdb):
    ds = DeepfakeDataset(config(ff_lmdb, augment=NO_AUG), "train", resolution=RES)
    store = ds.store("FaceForensics++")
    batches = list(make_loader(ds, batch_size=4, shuffle=False, num_workers=2))
    assert not store.is_open  # the main process never opened the LMDB: each worker did
    assert [k for b in batches for k in b["frame_key"]] == ds.frame_keys
    assert torch.cat([b["label"] for b in batches]).tolist() == ds.labels.tolist()
    assert [v for b in batches for v in b["video_id"]] == ds.video_ids
    images = torch.cat([b["image"] for b in batches])
    for i in range(len(ds.frame_keys)):
        assert torch.equal(images[i], ds[i]["image"])
    shuffled = list(
        make_loader(ds, batch_size=5, num_workers=2, generator=torch.Generator().manual_seed(1))
    )
    assert sorted(k for b in shuffled for k in b["frame_key"]) == sorted(ds.frame_keys)


def test_uint8_pixels_through_two_workers_and_in_clips(ff_lmdb):
    """Workers hand over uint8 frames; the dataset's normalizer makes them the float items."""
    cfg = config(ff_lmdb, augment=NO_AUG, frame_num={"train": 6}, clip_size=3)
    floats = DeepfakeDataset(cfg, "train", resolution=RES)
    uint8s = DeepfakeDataset(cfg, "train", resolution=RES, pixels="uint8")
    loader = make_loader(uint8s, batch_size=4, shuffle=False, num_workers=2)
    assert loader.persistent_workers and loader.prefetch_factor == 4
    assert loader.pin_memory == torch.cuda.is_available()
    images = torch.cat([b["image"] for b in loader])
    assert images.dtype == torch.uint8 and images.shape == (len(floats), 3, RES, RES)
    want = torch.stack([floats[i]["image"] for i in range(len(floats))])
    torch.testing.assert_close(uint8s.normalizer(images, "cpu"), want, rtol=0, atol=1e-5)
    clip = DeepfakeDataset(cfg, "train", mode="video", resolution=RES, pixels="uint8")[0]
    assert clip["image"].dtype == torch.uint8 and clip["image"].shape == (3, 3, RES, RES)
    with pytest.raises(ConfigError, match="unknown pixels 'int8'; use 'float' or 'uint8'"):
        DeepfakeDataset(cfg, "train", resolution=RES, pixels="int8")


def test_two_datasets_with_their_own_lmdbs_and_two_workers(both_lmdbs):
    cfg = config(both_lmdbs, train_datasets=["FaceForensics++", "Celeb-DF-v2"], augment=NO_AUG)
    ds = DeepfakeDataset(cfg, "train", resolution=RES)
    assert ds.datasets == ["FaceForensics++", "Celeb-DF-v2"]
    assert ds.store("FaceForensics++").path != ds.store("Celeb-DF-v2").path
    assert ds.item_datasets.count("Celeb-DF-v2") == 7 and ds.class_counts == {
        "real": 14,
        "fake": 11,
    }
    seen = 0
    for batch in make_loader(ds, batch_size=3, shuffle=True, num_workers=2):
        for image, key, dataset in zip(batch["image"], batch["frame_key"], batch["dataset"]):
            assert_colour(image, key)
            assert key.startswith(dataset if dataset != "Celeb-DF-v2" else "Celeb-DF-v2\\")
            seen += 1
    assert seen == len(ds) == 25


def test_masks_and_landmarks(ff_lmdb):
    cfg = config(ff_lmdb, with_mask=True, with_landmark=True, augment=NO_AUG)
    ds = DeepfakeDataset(cfg, "train", resolution=RES)
    fake, real = ds[0], ds[len(ds) - 1]
    assert fake["label"] == 1 and real["label"] == 0
    assert fake["mask"].shape == (1, RES, RES) and fake["mask"].dtype == torch.float32
    assert (
        fake["mask"][0, :, 0].max() == 0 and abs(float(fake["mask"][0, 0, -1]) - 200 / 255) < 1e-3
    )
    assert real["mask"].abs().sum() == 0  # real videos have no mask: zeros
    scale = np.array([RES / dg.WIDTH, RES / dg.HEIGHT], dtype=np.float32)
    assert np.allclose(
        fake["landmark"].numpy(), dg.expected_landmarks(fake["frame_key"]) * scale, atol=1e-4
    )
    batch = collate([ds[0], ds[1]])
    assert batch["mask"].shape == (2, 1, RES, RES) and batch["landmark"].shape == (2, 81, 2)
    video = DeepfakeDataset(
        config(ff_lmdb, with_mask=True, clip_size=2, augment=NO_AUG),
        "test",
        mode="video",
        resolution=RES,
    )
    assert video[0]["mask"].shape == (2, 1, RES, RES) and video[0]["landmark"] is None


def test_plain_folder_mode(tmp_path):
    root = dg.build_folder(tmp_path / "rgb", "Celeb-DF-v2")
    ds = DeepfakeDataset(
        config(data_root=str(root), test_datasets=["Celeb-DF-v2"]), "test", resolution=RES
    )
    assert len(ds) == 8 and ds.labels.tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    for i in range(len(ds)):
        assert_colour(ds[i]["image"], ds[i]["frame_key"])
    batches = list(make_loader(ds, batch_size=3, num_workers=2))
    assert sum(len(b["label"]) for b in batches) == 8


# -- bad input ------------------------------------------------------------------------------

CELEB_BAD = "Celeb-DF-v2\\YouTube-real\\frames\\00001\\009.png"
CELEB_TRUNC = "Celeb-DF-v2\\Celeb-synthesis\\frames\\id1_id0_0001\\010.png"


def celeb_lmdb(tmp_path, **options):
    return dg.build_lmdb(
        tmp_path / "lmdb", "Celeb-DF-v2", "Celeb-DF-v2", style="linux", **options
    ).parent


def corrupt_cfg(tmp_path, **kwargs):
    full = dg.frame_png(CELEB_TRUNC)
    lmdb_dir = celeb_lmdb(
        tmp_path, replace={CELEB_BAD: b"this is no png", CELEB_TRUNC: full[: len(full) // 2]}
    )
    return config(lmdb_dir, test_datasets=["Celeb-DF-v2"], **kwargs)


# slow: the loader abandoned by the error takes ~10 s to shut its two workers down, in whichever
# test the garbage collector happens to run next
@pytest.mark.slow
def test_undecodable_frame_fails_with_key_and_dataset(tmp_path):
    ds = DeepfakeDataset(corrupt_cfg(tmp_path), "test", resolution=RES)
    bad = ds.frame_keys.index(CELEB_BAD)
    with pytest.raises(
        DataError,
        match=r"cannot decode image 'Celeb-DF-v2\\YouTube-real.*009.png' of dataset 'Celeb-DF-v2'"
        r".*on_bad_frame: skip",
    ):
        ds[bad]
    with pytest.raises(
        DataError, match=r"(009|010).png' of dataset 'Celeb-DF-v2'.*on_bad_frame: skip"
    ):
        list(make_loader(ds, batch_size=2, num_workers=2))  # not replaced by another sample


def test_skip_bad_frames_counts_them_across_workers(tmp_path):
    ds = DeepfakeDataset(corrupt_cfg(tmp_path, on_bad_frame="skip"), "test", resolution=RES)
    bad = ds.frame_keys.index(CELEB_BAD)
    marker = ds[bad]
    ds.end_epoch()
    assert (
        marker["skipped"]
        and marker["frame_key"] == CELEB_BAD
        and "cannot decode" in marker["reason"]
    )
    batches = list(make_loader(ds, batch_size=1, num_workers=2))
    assert len(batches) == len(ds) - 2  # batches left empty by skipping are dropped
    keys = [k for b in batches for k in b["frame_key"]]
    assert CELEB_BAD not in keys and CELEB_TRUNC not in keys
    assert ds.bad_frames == 2  # counted although the skips happened in worker processes
    report = ds.end_epoch()
    assert report["count"] == 2 and report["by_dataset"] == {"Celeb-DF-v2": 2}
    assert {f[1] for f in report["frames"]} == {CELEB_BAD, CELEB_TRUNC}
    assert ds.bad_frames == 0  # reset for the next epoch
    # a plain DataLoader over a Subset (as the feature bank uses) is counted as well
    plain = DataLoader(
        Subset(ds, list(range(len(ds)))), batch_size=3, num_workers=2, collate_fn=collate
    )
    batches = list(plain)
    assert sum(len(b["skipped"]) for b in batches) == 2 and ds.report_bad_frames()["count"] == 2
    batch = collate([ds[0], marker])
    assert len(batch["label"]) == 1 and len(batch["skipped"]) == 1
    empty = collate([marker])
    assert empty["image"] is None and len(empty["label"]) == 0


def test_missing_lmdb_key_is_an_error_even_when_skipping(tmp_path):
    lmdb_dir = celeb_lmdb(tmp_path, drop={CELEB_BAD})
    ds = DeepfakeDataset(
        config(lmdb_dir, test_datasets=["Celeb-DF-v2"], on_bad_frame="skip"), "test"
    )
    with pytest.raises(MissingKeyError) as info:
        ds[ds.frame_keys.index(CELEB_BAD)]
    message = str(info.value)
    assert (
        "009.png" in message
        and "Celeb-DF-v2_lmdb" in message
        and "dataset 'Celeb-DF-v2'" in message
    )
    assert "Closest existing keys" in message and "separator mismatch" in message
    assert "Celeb-DF-v2\\YouTube-real/frames/00001/000.png" in info.value.closest


def test_setup_errors_at_construction(tmp_path, ff_lmdb):
    with pytest.raises(
        DataError,
        match=r"Celeb-DF-v2_lmdb' for dataset 'Celeb-DF-v2' does not exist.*FaceForensics\+\+_lmdb",
    ):
        DeepfakeDataset(config(ff_lmdb, test_datasets=["Celeb-DF-v2"]), "test")
    lmdb_dir = celeb_lmdb(tmp_path)
    with pytest.raises(DataError, match="split 'val' of dataset 'Celeb-DF-v2' is empty"):
        DeepfakeDataset(config(lmdb_dir, train_datasets=["Celeb-DF-v2"]), "val")

    def relabel(data):
        data["Celeb-DF-v2"]["CelebDFv2_fake"]["test"]["id1_id0_0001"]["label"] = "Celeb_fake"

    dg.copy_json(tmp_path / "json", "Celeb-DF-v2", "Celeb-DF-v2", edit=relabel)
    cfg = config(lmdb_dir, json_dir=str(tmp_path / "json"), test_datasets=["Celeb-DF-v2"])
    with pytest.raises(DataError, match="label string 'Celeb_fake'"):
        DeepfakeDataset(cfg, "test")
    cfg = config(
        lmdb_dir,
        json_dir=str(tmp_path / "json"),
        test_datasets=["Celeb-DF-v2"],
        label_dict={"Celeb_fake": 1},
    )
    assert DeepfakeDataset(cfg, "test").class_counts == {"real": 5, "fake": 3}


def test_grayscale_and_rgba_frames_become_rgb(tmp_path):
    gray_key = "Celeb-DF-v2\\YouTube-real\\frames\\00001\\000.png"
    rgba_key = "Celeb-DF-v2\\YouTube-real\\frames\\00001\\018.png"
    rgba = np.dstack([dg.frame_rgb(rgba_key), np.full((dg.HEIGHT, dg.WIDTH), 7, np.uint8)])
    lmdb_dir = celeb_lmdb(
        tmp_path,
        replace={
            gray_key: dg.png(np.full((dg.HEIGHT, dg.WIDTH), 90, np.uint8)),
            rgba_key: dg.png(rgba),
        },
    )
    ds = DeepfakeDataset(config(lmdb_dir, test_datasets=["Celeb-DF-v2"]), "test", resolution=RES)
    gray = ds[ds.frame_keys.index(gray_key)]["image"]
    assert gray.shape == (3, RES, RES) and left_colour(gray) == (90, 90, 90)
    assert_colour(ds[ds.frame_keys.index(rgba_key)]["image"], rgba_key)


def test_video_listed_by_two_datasets_is_read_once(tmp_path, ff_lmdb):
    json_dir = tmp_path / "json"
    dg.copy_json(json_dir, "FaceForensics++", "FaceForensics++")
    dg.copy_json(json_dir, "FaceForensics++", "FF-DF", top_key="FF-DF")
    cfg = config(ff_lmdb, json_dir=str(json_dir), train_datasets=["FaceForensics++", "FF-DF"])
    both = DeepfakeDataset(cfg, "train", resolution=RES)
    one = DeepfakeDataset(cfg, "train", ["FaceForensics++"], resolution=RES)
    assert both.duplicate_videos == 4 and both.frame_keys == one.frame_keys

    def relabel(data):
        for video in data["FF-DF"]["FF-real"]["train"]["c23"].values():
            video["label"] = "FF-DF"

    dg.copy_json(json_dir, "FaceForensics++", "FF-DF", top_key="FF-DF", edit=relabel)
    with pytest.raises(DataError, match="labelled 0 .* but 1"):
        DeepfakeDataset(cfg, "train")


def test_collate_hands_uint8_frames_over_as_one_channels_last_block():
    frames = np.random.default_rng(0).integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)
    items = [
        {
            "image": to_chw(frame),
            "label": 0,
            "landmark": None,
            "mask": None,
            "video_id": "v",
            "frame_key": f"k{i}",
            "dataset": "d",
            "index": i,
        }
        for i, frame in enumerate(frames)
    ]
    image = collate(items)["image"]
    assert image.shape == (3, 3, 5, 4) and image.dtype == torch.uint8
    assert torch.equal(image, torch.from_numpy(frames).permute(0, 3, 1, 2))
    # one (B, H, W, 3) block, each frame copied whole (not a strided copy into (B, 3, H, W))
    assert image.permute(0, 2, 3, 1).is_contiguous()


def test_collate_without_landmarks_or_masks():
    items = [
        {
            "image": torch.zeros(3, 2, 2),
            "label": i,
            "landmark": None,
            "mask": None,
            "video_id": f"v{i}",
            "frame_key": f"k{i}",
            "dataset": "d",
            "index": i,
        }
        for i in range(3)
    ]
    batch = collate(items)
    assert batch["image"].shape == (3, 3, 2, 2) and batch["label"].dtype == torch.long
    assert batch["landmark"] is None and batch["mask"] is None and batch["skipped"] == []
    assert batch["video_id"] == ["v0", "v1", "v2"] and batch["index"].tolist() == [0, 1, 2]
    # DeepfakeBench's training code hands ``dataset.collate_fn`` of an instance to its DataLoader:
    # it must collate there too (not be bound to the dataset as a method)
    instance = DeepfakeDataset.__new__(DeepfakeDataset)
    for collate_fn in (DeepfakeDataset.collate_fn, instance.collate_fn):
        same = collate_fn(items)
        assert same["label"].tolist() == [0, 1, 2] and same["video_id"] == batch["video_id"]
        assert torch.equal(same["image"], batch["image"])


def test_short_videos_are_noted_once_per_split(ff_lmdb, caplog, monkeypatch):
    """Every detector of a study reads the same splits: the note on videos shorter than
    ``frame_num`` is logged once, not once per detector."""
    from dfshield.data import dataset as dataset_module

    monkeypatch.setattr(dataset_module, "NOTED", set())
    cfg = config(ff_lmdb, frame_num={"train": 4}, augment=NO_AUG)
    with caplog.at_level("INFO", logger="dfshield.data.dataset"):
        DeepfakeDataset(cfg, "train", resolution=RES)
        DeepfakeDataset(cfg, "train", resolution=RES)
    notes = [r.getMessage() for r in caplog.records if "fewer than 4 frames" in r.getMessage()]
    assert notes == [
        "1 video(s) of split 'train' of FaceForensics++ have fewer than 4 frames "
        "(all their frames are used)"
    ], notes
