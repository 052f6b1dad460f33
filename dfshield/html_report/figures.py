"""The report's plots as embedded PNG ``data:`` URIs, drawn on an Agg canvas (no display, the
global pyplot backend left alone) at 90 dpi, since every one is embedded in the page."""

from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DPI = 90
#: a colour per line, the same detector keeping its colour across figures
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def data_uri(fig) -> str:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # long labels: matplotlib keeps the layout it has
        warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
        fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _both_classes(labels: np.ndarray) -> bool:
    return bool(labels.size) and 0 < int(labels.sum()) < labels.size


def _grid(count: int, columns: int = 3) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns


Curve = tuple[str, np.ndarray, np.ndarray]  # (name, labels, P(fake))


def roc_pr(curves: Sequence[Curve], title: str) -> str | None:
    """ROC and precision–recall side by side; None when no curve has both classes."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    usable = [(i, c) for i, c in enumerate(curves) if _both_classes(c[1])]
    if not usable:
        return None
    fig = new_figure(9.0, 4.2)
    roc_ax, pr_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, (name, labels, scores) in usable:
        fpr, tpr, _ = roc_curve(labels, scores)
        roc_ax.plot(fpr, tpr, color=colour(i), lw=1.5, label=f"{name} (AUC {auc(fpr, tpr):.4f})")
        precision, recall, _ = precision_recall_curve(labels, scores)
        ap = average_precision_score(labels, scores)
        pr_ax.step(
            recall, precision, where="post", color=colour(i), lw=1.5, label=f"{name} ({ap:.4f})"
        )
    roc_ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    prevalence = float(np.mean(usable[0][1][1]))
    pr_ax.axhline(prevalence, ls="--", color="grey", lw=1, label=f"chance ({prevalence:.2f})")
    roc_ax.set(
        xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate"
    )
    roc_ax.set_title(f"ROC: {title}", fontsize="medium")
    pr_ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall (fake)", ylabel="Precision (fake)")
    pr_ax.set_title(f"Precision–recall: {title}", fontsize="medium")
    for ax, where in ((roc_ax, "lower right"), (pr_ax, "lower left")):
        ax.grid(alpha=0.3)
        ax.legend(loc=where, fontsize="x-small", title="AP" if ax is pr_ax else None)
    return data_uri(fig)


Thresholded = tuple[str, np.ndarray, np.ndarray, float]  # (name, labels, P(fake), threshold)


def histograms(items: Sequence[Thresholded]) -> str | None:
    """Score histograms per class (real, fake), one panel per detector, with its threshold."""
    if not items:
        return None
    rows, columns = _grid(len(items))
    fig = new_figure(3.2 * columns, 2.6 * rows)
    bins = np.linspace(0, 1, 31)
    for k, (name, labels, scores, threshold) in enumerate(items):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.hist(scores[labels == 0], bins=bins, alpha=0.6, color="#1f77b4", label="real")
        ax.hist(scores[labels == 1], bins=bins, alpha=0.6, color="#d62728", label="fake")
        ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.3f}")
        ax.set_title(name, fontsize="small")
        ax.set_xlabel("P(fake)", fontsize="small")
        ax.set_ylabel("frames", fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.legend(fontsize="xx-small")
    return data_uri(fig)


def confusion_matrices(items: Sequence[Thresholded]) -> str | None:
    """The confusion matrix of each detector at its threshold (counts and row shares)."""
    if not items:
        return None
    rows, columns = _grid(len(items), 4)
    fig = new_figure(2.6 * columns, 2.5 * rows)
    for k, (name, labels, scores, threshold) in enumerate(items):
        predicted = (scores >= threshold).astype(np.int64)
        matrix = np.array(
            [[np.sum((labels == t) & (predicted == p)) for p in (0, 1)] for t in (0, 1)]
        )
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for t in (0, 1):
            for p in (0, 1):
                ax.text(
                    p,
                    t,
                    f"{matrix[t, p]}\n{shares[t, p]:.0%}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if shares[t, p] > 0.6 else "black",
                )
        ax.set_xticks([0, 1], ["real", "fake"], fontsize="x-small")
        ax.set_yticks([0, 1], ["real", "fake"], fontsize="x-small")
        ax.set_xlabel("predicted", fontsize="x-small")
        ax.set_ylabel("true", fontsize="x-small")
        ax.set_title(f"{name}\nthreshold {threshold:.3f}", fontsize="x-small")
    return data_uri(fig)


def heatmap(
    matrix: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], title: str
) -> str:
    """A train × test table as a heatmap (DeepfakeBench's Table 2 view); NaN cells blank."""
    fig = new_figure(2.0 + 1.3 * len(column_labels), 1.4 + 0.45 * len(row_labels))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="viridis", vmin=0.5, vmax=1.0)
    for r in range(matrix.shape[0]):
        for c in range(matrix.shape[1]):
            if np.isfinite(matrix[r, c]):
                value = matrix[r, c]
                ink = "black" if value > 0.8 else "white"
                ax.text(c, r, f"{value:.3f}", ha="center", va="center", fontsize="small", color=ink)
    ax.set_xticks(
        range(len(column_labels)), column_labels, rotation=30, ha="right", fontsize="small"
    )
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize="small")
    ax.set_xlabel("test set")
    ax.set_ylabel("detector (train set)")
    ax.set_title(title, fontsize="medium")
    fig.colorbar(image, ax=ax, fraction=0.04)
    return data_uri(fig)


#: the validation metrics drawn in the training curves, when the log has them
VALIDATION_METRICS = ("val_auc", "val_ap", "val_acc", "val_eer")


def training_curves(logs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> str | None:
    """Training loss, validation metric and learning rate per epoch, one colour per detector."""
    logs = [(name, log) for name, log in logs if log]
    if not logs:
        return None
    metric = next(
        (
            m
            for m in VALIDATION_METRICS
            if any(row.get(m) is not None for _, log in logs for row in log)
        ),
        None,
    )
    panels = [("train_loss", "training loss")]
    if metric is not None:
        panels.append((metric, metric))
    panels.append(("lr", "learning rate"))
    fig = new_figure(3.4 * len(panels), 3.0)
    for p, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        for i, (name, log) in enumerate(logs):
            points = [(row["epoch"], row[key]) for row in log if row.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(
                    xs,
                    ys,
                    color=colour(i),
                    lw=1.3,
                    marker="." if len(xs) < 20 else None,
                    label=name,
                )
        rates = [row.get("lr") for _, log in logs for row in log]
        if key == "lr" and all(rate is not None and rate > 0 for rate in rates):
            ax.set_yscale("log")
        ax.set_xlabel("epoch", fontsize="small")
        ax.set_title(label, fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize="x-small")
    return data_uri(fig)


#: ``(metric key, title, higher is better)`` of the imbalance summary
IMBALANCE_METRICS = (
    ("auc", "AUC", True),
    ("ap", "AP", True),
    ("eer", "EER", False),
    ("f1_macro", "macro F1", True),
)


def imbalance_curves(summary: Sequence[Mapping[str, Any]]) -> str | None:
    """Metric against the training ratio (log x), mean ± std over seeds; a row per test set."""
    sets = list(dict.fromkeys(row.get("test_set") for row in summary))
    detectors = list(dict.fromkeys(row.get("detector") for row in summary))
    if not summary:
        return None
    fig = new_figure(3.0 * len(IMBALANCE_METRICS), 2.8 * len(sets))
    for s, test_set in enumerate(sets):
        for m, (key, title, _) in enumerate(IMBALANCE_METRICS):
            ax = fig.add_subplot(
                len(sets), len(IMBALANCE_METRICS), s * len(IMBALANCE_METRICS) + m + 1
            )
            for d, detector in enumerate(detectors):
                rows = sorted(
                    (
                        r
                        for r in summary
                        if r.get("test_set") == test_set and r.get("detector") == detector
                    ),
                    key=lambda r: float(r.get("ratio") or 0),
                )
                points = [
                    (float(r["ratio"]), r[f"{key}_mean"], r.get(f"{key}_std") or 0.0)
                    for r in rows
                    if r.get(f"{key}_mean") is not None and r.get("ratio") is not None
                ]
                if points:
                    xs, ys, errors = zip(*points)
                    ax.errorbar(
                        xs,
                        ys,
                        yerr=errors,
                        color=colour(d),
                        marker="o",
                        ms=3,
                        capsize=3,
                        lw=1.2,
                        label=str(detector),
                    )
            ax.set_xscale("log")
            ax.set_xlabel("training ratio (majority : minority)", fontsize="x-small")
            ax.set_title(f"{title} — {test_set}", fontsize="small")
            ax.tick_params(labelsize="x-small")
            ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize="x-small")
    return data_uri(fig)


def reproduce_scatter(report: Mapping[str, Any]) -> str | None:
    """Ours against the published value, one point per cell, the diagonal = exact agreement."""
    points = [
        (cell["published"], cell["ours"], section.get("name", ""))
        for section in report.get("sections", [])
        for row in section.get("rows", [])
        for cell in row.get("cells", [])
        if cell.get("ours") is not None and cell.get("published") is not None
    ]
    if not points:
        return None
    fig = new_figure(4.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    sections = list(dict.fromkeys(p[2] for p in points))
    for i, section in enumerate(sections):
        xs = [p[0] for p in points if p[2] == section]
        ys = [p[1] for p in points if p[2] == section]
        ax.scatter(xs, ys, s=16, color=colour(i), label=section or "cells")
    low = min(min(p[0], p[1]) for p in points)
    high = max(max(p[0], p[1]) for p in points)
    ax.plot([low, high], [low, high], ls="--", color="grey", lw=1, label="ours = published")
    ax.set_xlabel("published")
    ax.set_ylabel("dfshield (mean over seeds)")
    ax.set_title("Ours vs published", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return data_uri(fig)


def robustness_curves(document: Mapping[str, Any], key: str = "auc") -> str | None:
    """A metric against perturbation strength, per perturbation and checkpoint, clean dashed."""
    rows = document.get("rows") or []
    labels = list(dict.fromkeys(label for row in rows for label in (row.get("metrics") or {})))
    clean = next((row for row in rows if row.get("kind") == "clean"), None)
    kinds = list(dict.fromkeys(row.get("kind") for row in rows if row.get("kind") != "clean"))
    if not kinds or not labels:
        return None
    rows_n, columns = _grid(len(kinds), 3)
    fig = new_figure(3.3 * columns, 2.9 * rows_n)
    for k, kind in enumerate(kinds):
        ax = fig.add_subplot(rows_n, columns, k + 1)
        for i, label in enumerate(labels):
            points = [
                (float(row["value"]), (row["metrics"].get(label) or {}).get(key))
                for row in rows
                if row.get("kind") == kind and isinstance(row.get("value"), (int, float))
            ]
            points = sorted(p for p in points if p[1] is not None)
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, color=colour(i), marker="o", ms=3, lw=1.2, label=label)
            value = ((clean or {}).get("metrics") or {}).get(label, {}).get(key)
            if value is not None:
                ax.axhline(value, color=colour(i), ls=":", lw=1)
        ax.set_title(str(kind), fontsize="small")
        ax.set_xlabel("strength", fontsize="x-small")
        ax.set_ylabel(key.upper(), fontsize="x-small")
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize="x-small", title="dotted: clean", title_fontsize="xx-small")
    return data_uri(fig)


def feature_map(points: np.ndarray, classes: np.ndarray, groups: Sequence[str], title: str) -> str:
    """The 2-D map twice: coloured by class (real, fake) and by dataset."""
    fig = new_figure(9.0, 4.2)
    by_class, by_group = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, name, tint in ((0, "real", "#1f77b4"), (1, "fake", "#d62728")):
        mask = classes == label
        by_class.scatter(points[mask, 0], points[mask, 1], s=4, alpha=0.6, color=tint, label=name)
    group_array = np.asarray(groups)
    for i, group in enumerate(dict.fromkeys(groups)):
        mask = group_array == group
        by_group.scatter(
            points[mask, 0], points[mask, 1], s=4, alpha=0.6, color=colour(i), label=group
        )
    for ax, what in ((by_class, "class"), (by_group, "dataset (split)")):
        ax.set_title(f"{title}, by {what}", fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize="x-small", markerscale=3)
    return data_uri(fig)
