"""``dfshield predict``'s output: the terminal table, the summary line and the rows file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfshield.errors import ConfigError
from dfshield.eval.results import text_table
from dfshield.fileio import atomic_write, write_json_atomic
from dfshield.scoring.media_inputs import printable
from dfshield.scoring.predict import COLUMNS

if TYPE_CHECKING:
    from dfshield.scoring.predict import PredictOptions

ROW_FORMATS = (".csv", ".json")


def format_rows(rows: list[dict], show_frames: bool = False) -> str:
    """The terminal table: one line per image, video and error (and frame with ``show_frames``)."""
    header = ["path", "kind", "frame", "frames", "P(fake)", "decision", "face", "note"]
    lines = [header]
    for row in rows:
        if row["kind"] == "frame" and not show_frames:
            continue
        face = "" if row["face_found"] is None else ("yes" if row["face_found"] else "no")
        lines.append(
            [
                row["path"],
                row["kind"] or "?",
                "" if row["frame_index"] is None else str(row["frame_index"]),
                "" if row["n_frames"] is None else str(row["n_frames"]),
                "" if row["prob_fake"] is None else f"{row['prob_fake']:.4f}",
                row["decision"] or row["status"],
                face,
                _shorten(row["message"]),
            ]
        )
    return "\n".join(text_table(lines, left=(0, 1, 5, 6), free_last=True))


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_rows_path(path: str | Path) -> Path:
    """``path`` when it names a file :func:`write_rows` can write (``.csv`` or ``.json``)."""
    path = Path(path)
    if path.suffix.lower() not in ROW_FORMATS:
        raise ConfigError(f"--out {path}: name a .csv or .json file")
    return path


def rows_meta(scorer, options: PredictOptions) -> dict[str, Any]:
    """What a ``.json`` rows file says besides the rows: checkpoint, threshold and options."""
    video_score = (
        "video head" if scorer.mode == "video" else f"{options.aggregate} frame probability"
    )
    return {
        "checkpoint": printable(str(scorer.checkpoint)),
        "detector": scorer.name,
        "threshold": scorer.threshold.as_dict(),
        "aggregate": options.aggregate,
        "face_crop": options.face_crop,
        "frames": options.frames,
        "video_score": video_score,
    }


def write_rows(path: str | Path, rows: list[dict], meta: dict) -> None:
    """``.json``: ``{**meta, "rows": [...]}``; ``.csv``: :data:`COLUMNS`; written atomically."""
    path = check_rows_path(path)
    if path.suffix.lower() == ".json":
        write_json_atomic(path, {**meta, "rows": rows})
        return
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_cell(row[key]) for key in COLUMNS})


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else value


def summary_line(rows: list[dict]) -> str:
    """How many images, videos and video frames were scored and how many items were not."""
    scored = scored_items(rows)
    frames = sum(row["kind"] == "frame" and row["prob_fake"] is not None for row in rows)
    errors = sum(row["status"] == "error" for row in rows)
    return (
        f"scored {sum(r['kind'] == 'image' for r in scored)} image(s) and "
        f"{sum(r['kind'] == 'video' for r in scored)} video(s) ({frames} video frames); "
        f"{errors} item(s) could not be scored"
    )


def scored_items(rows: list[dict]) -> list[dict]:
    """The image and video rows that have a score."""
    return [r for r in rows if r["kind"] in ("image", "video") and r["prob_fake"] is not None]
