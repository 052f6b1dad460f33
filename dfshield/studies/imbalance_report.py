"""The imbalance study's report, mean ± std over seeds, written atomically: ``imbalance.md`` (a
detector × ratio table per test set), ``.csv``, ``_runs.csv``, ``.json``, ``.png`` (AUC vs ratio);
docs/imbalance.md lists their columns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfshield.eval.results import number, save_figure
from dfshield.fileio import atomic_write, write_json_atomic, write_text_atomic
from dfshield.studies.subsample import majority_class, ratio_text

#: ``(header, metric key, higher is better)`` of the summary tables (frame level).
SUMMARY_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("AUC", "auc", True),
    ("AP", "ap", True),
    ("EER", "eer", False),
    ("macro F1", "f1_macro", True),
)


def summarize(
    runs: Sequence[Mapping[str, Any]], metrics: Sequence[tuple[str, str, bool]] = SUMMARY_METRICS
) -> list[dict[str, Any]]:
    """Mean and sample std (n − 1; None for one seed) per test set, detector and ratio."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["test_set"], run["detector"], run["ratio"]), []).append(run)
    set_order = list(dict.fromkeys(run["test_set"] for run in runs))
    detector_order = list(dict.fromkeys(run["detector"] for run in runs))
    rows = []
    for (test_set, detector, ratio), items in groups.items():
        first = items[0]
        row: dict[str, Any] = {
            "test_set": test_set,
            "detector": detector,
            "ratio": ratio,
            "minority": first.get("minority"),
            "n_seeds": len(items),
            "train_real_videos": first.get("train_real_videos"),
            "train_fake_videos": first.get("train_fake_videos"),
        }
        for _, key, _ in metrics:
            values = [
                v for v in (number(item.get(key), finite=True) for item in items) if v is not None
            ]
            row[f"{key}_mean"] = float(np.mean(values)) if values else None
            row[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) >= 2 else None
        rows.append(row)
    rows.sort(
        key=lambda r: (
            set_order.index(r["test_set"]),
            detector_order.index(r["detector"]),
            r["ratio"],
        )
    )
    return rows


# -- writing ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "test_set",
    "detector",
    "ratio",
    "minority",
    "n_seeds",
    "train_real_videos",
    "train_fake_videos",
) + tuple(f"{key}_{stat}" for _, key, _ in SUMMARY_METRICS for stat in ("mean", "std"))


def write_imbalance(
    run_dir: str | os.PathLike,
    summary: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
) -> dict[str, Path]:
    """Write the ``imbalance.*`` files into ``run_dir``; their paths by suffix."""
    import csv

    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": out / "imbalance.md",
        "csv": out / "imbalance.csv",
        "runs_csv": out / "imbalance_runs.csv",
        "json": out / "imbalance.json",
        "png": out / "imbalance.png",
    }
    write_text_atomic(paths["md"], format_markdown(summary, settings))
    with atomic_write(paths["csv"], newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in summary:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run if k not in keys]
    with atomic_write(paths["runs_csv"], newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, restval="")
        writer.writeheader()
        for run in runs:
            writer.writerow({k: ("" if v is None else v) for k, v in run.items()})
    write_json_atomic(paths["json"], {"settings": settings, "summary": summary, "runs": runs})
    plot_imbalance(paths["png"], summary, settings)
    return paths


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def format_markdown(summary: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
    """``imbalance.md``: settings, counts per ratio, batching per detector, a table per test set."""
    minority = settings["minority"]
    majority = majority_class(minority)
    counts = settings["protocol_counts"]
    lines = [
        "# Imbalance study",
        "",
        f"Training split of {', '.join(settings['train_datasets'])}: {counts['real']} real and "
        f"{counts['fake']} fake videos. Minority class: **{minority}** — every {majority} training "
        f"video is kept and the {minority} videos are subsampled by video (seeded) to "
        f"⌊{majority} / r⌋ for each ratio r ({majority}:{minority} = r:1). Validation and test "
        f"splits are unchanged.",
        "",
        f"| Ratio ({majority}:{minority}) | real videos | fake videos |",
        "| ---: | ---: | ---: |",
    ]
    for ratio, row in settings["counts"].items():
        lines.append(f"| {ratio}:1 | {row['real']} | {row['fake']} |")
    seeds = settings["seeds"]
    lines += [
        "",
        f"Seeds: {', '.join(map(str, seeds))} (each sets both the subsample and train.seed).",
        "",
    ]
    for label, how in settings.get("batching", {}).items():  # train.batched_runs
        lines += [f"Training of {label}: {how}.", ""]
    headers = [header for header, _, _ in SUMMARY_METRICS]
    for position, test_set in enumerate(settings["test_sets"]):
        rows = [r for r in summary if r["test_set"] == test_set]
        if not rows:
            continue
        title = "Test split" if position == 0 else "Extra test set"
        lines += [
            f"## {title}: {test_set}",
            "",
            "| Detector | Ratio | " + " | ".join(headers) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in headers) + " |",
        ]
        best = _best_marks(rows)
        for row in rows:
            cells = []
            for _, key, _ in SUMMARY_METRICS:
                text = _cell(row.get(f"{key}_mean"), row.get(f"{key}_std"))
                cells.append(f"**{text}**" if (id(row), key) in best else text)
            name = str(row["detector"]).replace("|", "\\|")
            lines.append(f"| {name} | {ratio_text(row['ratio'])}:1 | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        f"Frame level, on the test split. Mean ± sample standard deviation over "
        f"{len(seeds)} seed(s) (one seed: mean only). EER: lower is better; AUC, AP and "
        f"macro F1 (averaged over both classes): higher is better. Best mean per ratio and "
        f"column in bold (when at least two detectors).",
        "",
    ]
    return "\n".join(lines)


def _best_marks(rows: Sequence[Mapping[str, Any]]) -> set[tuple[int, str]]:
    marks: set[tuple[int, str]] = set()
    for ratio in {r["ratio"] for r in rows}:
        same = [r for r in rows if r["ratio"] == ratio]
        if len(same) < 2:
            continue
        for _, key, higher in SUMMARY_METRICS:
            values = [
                (round(r[f"{key}_mean"], 4), r) for r in same if r.get(f"{key}_mean") is not None
            ]
            if len(values) < 2:
                continue
            target = (max if higher else min)(v for v, _ in values)
            marks.update((id(r), key) for v, r in values if v == target)
    return marks


def plot_imbalance(
    path: str | os.PathLike,
    summary: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    metric: str = "auc",
) -> Path:
    """``metric`` vs ratio (log x), a line per detector with std bars, a panel per test set."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullFormatter

    test_sets = [t for t in settings["test_sets"] if any(r["test_set"] == t for r in summary)]
    ratios = sorted({float(r["ratio"]) for r in summary})
    majority, minority = majority_class(settings["minority"]), settings["minority"]
    fig = Figure(figsize=(6.4 * max(1, len(test_sets)), 4.8), dpi=120)
    FigureCanvasAgg(fig)
    axes = [
        fig.add_subplot(1, max(1, len(test_sets)), i + 1) for i in range(max(1, len(test_sets)))
    ]
    for ax, test_set in zip(axes, test_sets):
        rows = [r for r in summary if r["test_set"] == test_set]
        for detector in dict.fromkeys(r["detector"] for r in rows):
            points = sorted(
                (
                    r
                    for r in rows
                    if r["detector"] == detector and r.get(f"{metric}_mean") is not None
                ),
                key=lambda r: r["ratio"],
            )
            if not points:
                continue
            x = [float(r["ratio"]) for r in points]
            y = [r[f"{metric}_mean"] for r in points]
            err = [r[f"{metric}_std"] or 0.0 for r in points]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, linewidth=1.5, label=str(detector))
        ax.set_xscale("log")
        if len(ratios) == 1:
            ax.set_xlim(ratios[0] / 2, ratios[0] * 2)
        ax.xaxis.set_major_locator(FixedLocator(ratios))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(ratios, [f"{ratio_text(r)}:1" for r in ratios])
        ax.set_xlabel(f"training ratio {majority}:{minority} (log scale)")
        if metric in (
            "auc",
            "ap",
            "f1_macro",
        ):  # bounded by 1: keep error bars from widening the axis
            low, high = ax.get_ylim()
            ax.set_ylim(low, min(high, 1.01))
        ax.set_ylabel(f"test {metric.upper()} (mean ± std over seeds)")
        ax.set_title(test_set)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)
