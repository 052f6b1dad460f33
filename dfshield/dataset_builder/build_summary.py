"""What a build wrote, by split and label, and what it left out (printed by the builders)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dfshield.dataset_builder.layout import LABELS, SPLITS


def _zero_table() -> dict[str, dict[str, int]]:
    return {s: {lab: 0 for lab in LABELS} for s in SPLITS}


@dataclass
class BuildSummary:
    """What a build wrote (``videos``/``frames``: ``{split: {"real": n, "fake": n}}``) and left out:
    faceless frames (kept centre-cropped or skipped), ``failed`` inputs, ``missing`` files."""

    name: str
    out_dir: str
    json_path: str
    lmdb_path: str
    label_dict: dict[str, int]
    videos: dict[str, dict[str, int]] = field(default_factory=_zero_table)
    frames: dict[str, dict[str, int]] = field(default_factory=_zero_table)
    bytes_written: int = 0
    faces_not_found: int = 0
    frames_center_cropped: int = 0
    frames_skipped: int = 0
    videos_empty: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    deepfakebench_yaml: str = ""

    @property
    def total_videos(self) -> int:
        return sum(sum(v.values()) for v in self.videos.values())

    @property
    def total_frames(self) -> int:
        return sum(sum(v.values()) for v in self.frames.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_videos"] = self.total_videos
        data["total_frames"] = self.total_frames
        return data

    def format(self, max_listed: int = 10) -> str:
        """Human-readable report."""
        lines = [
            f"Dataset {self.name}: {self.total_videos} videos, {self.total_frames} frames, "
            f"{_human_bytes(self.bytes_written)} written in {self.seconds:.1f} s"
        ]
        lines.append(
            f"  {'split':<6} {'real videos':>12} {'fake videos':>12} {'real frames':>12} "
            f"{'fake frames':>12}"
        )
        for s in SPLITS:
            v, f = self.videos[s], self.frames[s]
            lines.append(
                f"  {s:<6} {v['real']:>12} {v['fake']:>12} {f['real']:>12} {f['fake']:>12}"
            )
        if self.faces_not_found or self.frames_center_cropped or self.frames_skipped:
            lines.append(
                f"  faces not found: {self.faces_not_found} frames "
                f"({self.frames_center_cropped} kept as centre crops, "
                f"{self.frames_skipped} skipped)"
            )
        for title, items in (
            ("videos with no usable frame", self.videos_empty),
            ("inputs that could not be read", [f"{p}: {r}" for p, r in self.failed]),
            ("files named in metadata but missing", self.missing),
        ):
            if items:
                lines.append(f"  {title}: {len(items)}")
                lines.extend(f"    {item}" for item in items[:max_listed])
                if len(items) > max_listed:
                    lines.append(f"    ... and {len(items) - max_listed} more")
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(f"  JSON: {self.json_path}")
        lines.append(f"  LMDB: {self.lmdb_path}")
        lines.append("  label_dict: " + ", ".join(f"{k}: {v}" for k, v in self.label_dict.items()))
        if self.deepfakebench_yaml:
            lines.append(f"  DeepfakeBench settings: {self.deepfakebench_yaml}")
        return "\n".join(lines)


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
