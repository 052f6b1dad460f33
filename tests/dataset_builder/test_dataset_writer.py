"""DatasetWriter: names and labels checked, frames round-trip through the LMDB, which grows."""

from __future__ import annotations

import numpy as np
import pytest

from dfshield.dataset_builder.dataset_writer import DatasetWriter
from dfshield.dataset_builder.layout import frame_key
from dfshield.errors import ConfigError, DataError
from dfshield.media.frames import decode_image
from tests.helpers import read_dataset, videos_of


def test_bad_names_and_labels_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="FaceForensics"):
        DatasetWriter(tmp_path, "FaceForensics++")
    with pytest.raises(ConfigError, match="not usable"):
        DatasetWriter(tmp_path, "my faces")
    with DatasetWriter(tmp_path, "Ok") as writer:
        with pytest.raises(DataError, match="Did you mean 'fake'"):
            writer.add_video("v", "fkae", [(0, np.zeros((8, 8, 3), np.uint8))])
        writer.add_video("v", "real", [(0, np.zeros((8, 8, 3), np.uint8))])
        with pytest.raises(DataError, match="twice"):
            writer.add_video("v", "real", [(0, np.zeros((8, 8, 3), np.uint8))])


def test_writer_round_trip_and_map_growth(tmp_path):
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path, "Grow", map_size=1 << 16) as writer:  # 64 KiB: must grow
        for i in range(12):
            frames = [(j * 5, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for j in (3, 0, 1)]
            writer.add_video(f"v{i}", i % 2, frames)
        assert writer.add_video("empty", 0, []) == 0
    summary = writer.summary
    assert summary.total_videos == 12 and summary.total_frames == 36
    info, values = read_dataset(tmp_path, "Grow")
    vids = videos_of(info, "Grow")
    assert len(vids) == 12
    for (lab, vid), (_split, frames) in vids.items():
        assert frames == [frame_key("Grow", lab, vid, i) for i in (0, 5, 15)]  # sorted by index
        for key in frames:
            assert decode_image(values[key], "stored frame").shape == (64, 64, 3)
    assert set(values) == {k for _, fr in vids.values() for k in fr}
    assert summary.bytes_written == sum(len(v) for v in values.values())


def test_video_folders_are_unique_across_classes(tmp_path):
    # DeepfakeBench's video-level metrics group frames by the name of their parent folder only
    rng = np.random.default_rng(1)
    with DatasetWriter(tmp_path, "Same") as writer:
        for label in ("real", "fake"):
            for video in ("001", "002"):
                frames = [(i, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for i in range(3)]
                writer.add_video(video, label, frames, split="test")
    info, _ = read_dataset(tmp_path, "Same")
    by_folder: dict[str, set] = {}
    for (lab, vid), (_split, frames) in videos_of(info, "Same").items():
        for key in frames:
            by_folder.setdefault(key.split("\\")[-2], set()).add((lab, vid))
    assert len(by_folder) == 4 and all(len(videos) == 1 for videos in by_folder.values())
    assert set(by_folder) == {"real_001", "real_002", "fake_001", "fake_002"}
