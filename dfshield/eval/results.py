"""Comparison reports: ``results.md`` / ``.csv`` / ``.json``, a terminal table and ``roc.png``.

A row is ``{"detector": name, **metrics}`` (:func:`~dfshield.eval.metrics.compute_metrics`).
F1/Precision/Recall are macro-averaged by default, as the SP Cup paper reports them. The best
value per column, compared as displayed, is marked when at least two detectors have one;
missing values show as "—". ``deepfakebench=True`` adds their definitions, headed "(DFB)".
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from dfshield.errors import ConfigError
from dfshield.fileio import atomic_write, json_ready, write_json_atomic, write_text_atomic

__all__ = ["write_results", "format_table", "plot_roc", "save_figure", "table_columns", "number"]

MISSING = "—"
DECIMALS = 4


#: ACC at the validation-EER threshold stored with the checkpoint (``ACC`` is at 0.5)
THRESHOLD_COLUMNS = [("ACC@val-EER", "acc_at_val_eer", True)]
THRESHOLD_NOTE = (
    "ACC is at the threshold 0.5; ACC@val-EER at the validation split's EER threshold, stored "
    "with the checkpoint and used by dfshield predict."
)

#: DeepfakeBench's definitions (:func:`dfshield.eval.metrics.deepfakebench_metrics`) as columns
DEEPFAKEBENCH_COLUMNS = [
    ("EER (DFB)", "eer_dfb", False),
    ("video AUC (DFB)", "video_auc_dfb", True),
    ("ACC real (DFB)", "acc_real", True),
    ("ACC fake (DFB)", "acc_fake", True),
]


def table_columns(macro: bool = True, deepfakebench: bool = False) -> list[tuple[str, str, bool]]:
    """``(header, metric key, higher_is_better)`` for each table column after "Detector"."""
    suffix = "_macro" if macro else ""
    extra = DEEPFAKEBENCH_COLUMNS if deepfakebench else []
    return [
        ("ACC", "acc", True),
        ("AUC", "auc", True),
        ("F1", "f1" + suffix, True),
        ("Precision", "precision" + suffix, True),
        ("Recall", "recall" + suffix, True),
        ("EER", "eer", False),
        ("AP", "ap", True),
        ("video AUC", "video_auc", True),
        *THRESHOLD_COLUMNS,
        *extra,
    ]


def _footnote(macro: bool, mark: str, deepfakebench: bool = False) -> str:
    which = (
        "macro-averaged over both classes (fake and real), as in the SP Cup 2025 paper"
        if macro
        else "for the fake class (fake = positive)"
    )
    theirs = (
        " (DFB): DeepfakeBench's definitions on the same scores (EER at the closest ROC vertex, "
        "not interpolated; videos grouped by folder name; per-class accuracy at prob > 0.5)."
        if deepfakebench
        else ""
    )
    return (
        f"F1, Precision and Recall are {which}. EER: lower is better; all other columns: "
        f"higher is better. Best value per column {mark}. {THRESHOLD_NOTE}{theirs}"
    )


def number(value: Any, *, finite: bool = False) -> float | None:
    """A cell's float, or ``None`` if missing (None, NaN, not a number; ±inf when ``finite``)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(result) or (finite and math.isinf(result)):
        return None
    return result


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> None:
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "detector" not in row:
            raise ConfigError(
                f"result row {i} has no 'detector' key; each row must be "
                "{'detector': name, **metrics} (metrics from compute_metrics)."
            )


def _cells(
    rows: Sequence[Mapping[str, Any]], macro: bool, deepfakebench: bool = False
) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """Headers, displayed cells and best-marks (without the detector column)."""
    _check_rows(rows)
    columns = table_columns(macro, deepfakebench)
    shown: list[list[str]] = [[] for _ in rows]
    best: list[list[bool]] = [[] for _ in rows]
    for _, key, higher in columns:
        values = [number(row.get(key)) for row in rows]
        rounded = [None if v is None else round(v, DECIMALS) for v in values]
        present = [v for v in rounded if v is not None]
        target = None
        if len(present) >= 2:
            target = max(present) if higher else min(present)
        for i, v in enumerate(rounded):
            shown[i].append(MISSING if v is None else f"{v:.{DECIMALS}f}")
            best[i].append(v is not None and v == target)
    return [header for header, _, _ in columns], shown, best


def _markdown(
    rows: Sequence[Mapping[str, Any]], title: str, macro: bool, deepfakebench: bool = False
) -> str:
    headers, shown, best = _cells(rows, macro, deepfakebench)
    lines = [
        f"# {title}",
        "",
        "| Detector | " + " | ".join(headers) + " |",
        "| --- | " + " | ".join("---:" for _ in headers) + " |",
    ]
    for row, cells, marks in zip(rows, shown, best):
        name = str(row["detector"]).replace("|", "\\|")
        body = [f"**{c}**" if m else c for c, m in zip(cells, marks)]
        lines.append(f"| {name} | " + " | ".join(body) + " |")
    lines += ["", _footnote(macro, "in bold", deepfakebench), ""]
    return "\n".join(lines)


def format_table(
    rows: Sequence[Mapping[str, Any]], *, macro: bool = True, deepfakebench: bool = False
) -> str:
    """The comparison table as aligned plain text for the terminal (best per column: ``*``)."""
    headers, shown, best = _cells(rows, macro, deepfakebench)
    table = [["Detector", *headers]]
    for row, cells, marks in zip(rows, shown, best):
        marked = [c + ("*" if m else " ") for c, m in zip(cells, marks)]
        table.append([str(row["detector"]), *marked])
    lines = text_table(table)
    lines.append(_footnote(macro, "marked *", deepfakebench))
    return "\n".join(lines)


def text_table(
    table: Sequence[Sequence[str]], left: Collection[int] = (0,), free_last: bool = False
) -> list[str]:
    """Lines of an aligned plain-text table: header underlined, columns two spaces apart. Columns in
    ``left`` are left-aligned, others right-aligned; ``free_last`` leaves the last one unpadded."""
    aligned = len(table[0]) - 1 if free_last else len(table[0])
    widths = [max(len(row[k]) for row in table) for k in range(aligned)]
    dashes = ["-" * w for w in widths] + (["----"] if free_last else [])
    lines = []
    for n, row in enumerate(table):
        cells = [
            cell.ljust(w) if k in left else cell.rjust(w)
            for k, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells + list(row[aligned:])).rstrip())
        if n == 0:
            lines.append("  ".join(dashes))
    return lines


def write_results(
    run_dir: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "Detector comparison",
    macro: bool = True,
    deepfakebench: bool = False,
) -> dict[str, Path]:
    """Write ``results.md``, ``.csv`` and ``.json`` into ``run_dir``; return the paths by suffix.
    The CSV holds every metric key at full precision; the JSON is ``{"title", "rows"}``."""
    rows = list(rows)
    _check_rows(rows)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "results.md", "csv": out / "results.csv", "json": out / "results.json"}

    write_text_atomic(paths["md"], _markdown(rows, title, macro, deepfakebench))

    keys = ["detector"]
    columns = table_columns(macro, deepfakebench)
    for key in [k for _, k, _ in columns] + [k for row in rows for k in row]:
        if key not in keys:
            keys.append(key)
    plain_rows = [json_ready(dict(row)) for row in rows]
    with atomic_write(paths["csv"], newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys, restval="")
        writer.writeheader()
        for row in plain_rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_json_atomic(paths["json"], {"title": title, "rows": plain_rows})
    return paths


def plot_roc(
    path: str | os.PathLike,
    curves: Mapping[str, tuple[Any, Any]],
    *,
    title: str = "ROC (fake = positive)",
) -> Path:
    """Draw one ROC line per detector (AUC in the legend) and the chance diagonal; return the path.
    ``curves`` maps a name to ``(scores, labels)``; ``path`` is a PNG or a folder for ``roc.png``.
    Draws on matplotlib's Agg canvas, so no display is needed and pyplot is untouched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dfshield.eval.metrics import roc_points

    target = Path(path)
    if target.is_dir() or not target.suffix:
        target = target / "roc.png"

    fig = Figure(figsize=(6, 6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, (scores, labels) in curves.items():
        fpr, tpr, _ = roc_points(scores, labels)
        auc = float(((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])).sum() / 2.0)
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.005)
    ax.set_xlabel("False positive rate (real flagged as fake)")
    ax.set_ylabel("True positive rate (fake detected)")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, target)


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write a matplotlib figure to ``path`` as PNG, atomically; return the path."""
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    return Path(path)
