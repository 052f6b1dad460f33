"""The build summary: counts by split and label, and what was left out, listed up to a limit."""

from __future__ import annotations

from dfshield.dataset_builder.build_summary import BuildSummary


def test_the_summary_totals_and_lists_what_was_left_out():
    summary = BuildSummary("Mine", "out", "out/json/Mine.json", "out/lmdb/Mine_lmdb", {"a": 0})
    summary.videos["train"]["real"], summary.frames["train"]["real"] = 2, 64
    summary.videos["test"]["fake"], summary.frames["test"]["fake"] = 1, 32
    summary.failed = [(f"bad{i}.mp4", "unreadable") for i in range(4)]
    summary.bytes_written = 3 * 1024 * 1024
    assert (summary.total_videos, summary.total_frames) == (3, 96)
    assert summary.to_dict()["total_frames"] == 96
    text = summary.format(max_listed=2)
    assert text.startswith("Dataset Mine: 3 videos, 96 frames, 3.0 MiB written")
    assert "  inputs that could not be read: 4" in text
    assert "bad1.mp4: unreadable" in text and "bad2.mp4" not in text
    assert "    ... and 2 more" in text
    assert "faces not found" not in text  # no line for what did not happen
