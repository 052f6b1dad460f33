"""``dfshield robustness``: checkpoints re-tested on their test split under image perturbations.

Frozen backbones re-encode in memory, never touching the feature-bank cache; ACC is at each
checkpoint's threshold, not 0.5 as in ``test`` (docs/predict-and-robustness.md).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfshield.eval.results import text_table
from dfshield.fileio import atomic_write, write_json_atomic, write_text_atomic

METRICS = (("AUC", "auc"), ("ACC", "acc"), ("EER", "eer"), ("video AUC", "video_auc"))


@dataclass
class RobustnessResult:
    """``rows[i][label]``: metrics of the checkpoint ``label`` under ``perturbations[i]``."""

    perturbations: list  # of dfshield.eval.perturbations.Perturbation
    labels: list[str]
    rows: list[dict[str, dict]]
    checkpoints: list[dict[str, Any]]  # label, path, detector, epoch, threshold, test datasets
    seed: int
    output_dir: str  # train.output_dir of the first checkpoint's config


def checkpoint_labels(scorers) -> list[str]:
    """Column labels: the detector name, made unique by ``(run/best)`` and then a number."""
    names = [scorer.name for scorer in scorers]

    def where(scorer) -> str:
        path = scorer.checkpoint.resolve()
        return f"{path.parent.parent.name}/{path.stem}"

    labels = [
        f"{name} ({where(scorer)})" if names.count(name) > 1 else name
        for scorer, name in zip(scorers, names)
    ]
    return [
        f"{label} #{labels[: i + 1].count(label)}" if labels.count(label) > 1 else label
        for i, label in enumerate(labels)
    ]


def load_checkpoints(
    paths: Sequence[str | Path],
    *,
    protocol: str | None = None,
    overrides: Sequence[str] = (),
    threshold: str = "eer",
    device: str = "auto",
) -> tuple[list, list]:
    """A Scorer and run config per checkpoint; ``protocol``/``overrides`` as in ``test``."""
    from dfshield.config import build_config, load_yaml, parse_overrides
    from dfshield.scoring.scorer import Scorer

    layers = []
    if protocol:
        layers.append((protocol, {"data": load_yaml(protocol).get("data", {})}))
    if overrides:
        layers.append(("--set", parse_overrides(list(overrides))))
    scorers, configs = [], []
    for path in paths:
        scorer = Scorer.from_checkpoint(path, device=device, threshold=threshold)
        configs.append(build_config([(f"{path} (saved config)", scorer.config.to_dict()), *layers]))
        scorers.append(scorer)
    return scorers, configs


def group_by_data(scorers, configs) -> dict[tuple[str, str], list[int]]:
    """Checkpoint positions grouped by data and frame preparation: frames read once a group."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (scorer, cfg) in enumerate(zip(scorers, configs)):
        data_key = json.dumps(cfg.to_dict()["data"], sort_keys=True, default=str)
        groups.setdefault((data_key, scorer.spec_key()), []).append(i)
    return groups


def run_robustness(
    checkpoints: Sequence[str | Path],
    perturbations: Sequence[str] | str | None = None,
    *,
    protocol: str | None = None,
    overrides: Sequence[str] = (),
    threshold: str = "eer",
    seed: int = 0,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = False,
) -> RobustnessResult:
    """Score each checkpoint's test split under every perturbation (default: the standard set)."""
    from dfshield.data import DeepfakeDataset
    from dfshield.errors import ConfigError
    from dfshield.eval.perturbations import parse_perturbations
    from dfshield.eval.predictions import evaluate_predictions
    from dfshield.progress import progress_bar
    from dfshield.scoring.scorer import PerturbedDataset, score_dataset

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    chosen = parse_perturbations(perturbations)
    scorers, configs = load_checkpoints(
        checkpoints, protocol=protocol, overrides=overrides, threshold=threshold, device=device
    )
    labels = checkpoint_labels(scorers)
    groups = group_by_data(scorers, configs)
    datasets = {
        key: DeepfakeDataset(
            configs[members[0]].data,
            "test",
            configs[members[0]].data.test_datasets,
            augment=False,
            **scorers[members[0]].detector.input_spec(),
        )
        for key, members in groups.items()
    }
    rows: list[dict[str, dict]] = []
    runs = len(chosen) * len(groups)
    bar = progress_bar(total=runs, enabled=progress, desc="robustness", unit="run")
    for perturbation in chosen:
        row: dict[str, dict] = {}
        for key, members in groups.items():
            dataset: DeepfakeDataset | PerturbedDataset = datasets[key]
            if perturbation.kind != "clean":
                dataset = PerturbedDataset(dataset, perturbation, seed=seed)
            splits = score_dataset(
                [scorers[i] for i in members],
                dataset,
                batch_size=batch_size,
                num_workers=configs[members[0]].data.num_workers,
                progress=progress,
                description=perturbation.name,
            )
            for i, split in zip(members, splits):
                threshold_value = scorers[i].threshold.value
                row[labels[i]] = evaluate_predictions(split, threshold=threshold_value, bootstrap=0)
            bar.update(1)
        rows.append(row)
    bar.close()
    described = [
        {
            "label": label,
            "path": str(scorer.checkpoint),
            "detector": scorer.name,
            "epoch": scorer.epoch,
            "threshold": scorer.threshold.as_dict(),
            "test_datasets": list(cfg.data.test_datasets),
        }
        for label, scorer, cfg in zip(labels, scorers, configs)
    ]
    return RobustnessResult(chosen, labels, rows, described, seed, configs[0].train.output_dir)


# -----------------------------------------------------------------------------------------
# output
# -----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4f}"


def format_table(result: RobustnessResult, key: str = "auc") -> str:
    """Plain-text table of one metric: a row per perturbation, a column per checkpoint."""
    title = dict((k, h) for h, k in METRICS)[key]
    labels = result.labels
    table = [["perturbation", *labels]]
    table += [
        [p.name, *(_cell(row[label].get(key)) for label in labels)]
        for p, row in zip(result.perturbations, result.rows)
    ]
    return "\n".join([f"{title} per perturbation", *text_table(table)])


def _markdown(result: RobustnessResult) -> str:
    labels = result.labels
    lines = [
        "# Robustness to perturbations",
        "",
        "Test split of each checkpoint re-scored with every frame perturbed before "
        "preprocessing (`dfshield robustness`). ACC is at each checkpoint's decision "
        "threshold; AUC, EER and video AUC need none. Gaussian noise seed: "
        f"{result.seed}.",
        "",
    ]
    for ckpt in result.checkpoints:
        thr = ckpt["threshold"]
        lines.append(
            f"- **{ckpt['label']}**: `{ckpt['path']}` (epoch {ckpt['epoch']}), test "
            f"datasets {', '.join(ckpt['test_datasets'])}, threshold {thr['value']:.4f} "
            f"({thr['rule']}, {thr['chosen_on']})"
        )
    for title, key in METRICS:
        lines += [
            "",
            f"## {title}",
            "",
            "| Perturbation | " + " | ".join(label.replace("|", "\\|") for label in labels) + " |",
            "| --- | " + " | ".join("---:" for _ in labels) + " |",
        ]
        for p, row in zip(result.perturbations, result.rows):
            cells = " | ".join(_cell(row[label].get(key)) for label in labels)
            lines.append(f"| {p.label} | {cells} |")
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, result: RobustnessResult) -> None:
    labels = result.labels
    columns = ["perturbation", "label"] + [
        f"{label} {title}" for label in labels for title, _ in METRICS
    ]
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for p, row in zip(result.perturbations, result.rows):
            writer.writerow(
                [p.name, p.label]
                + [
                    "" if row[label].get(key) is None else repr(float(row[label][key]))
                    for label in labels
                    for _, key in METRICS
                ]
            )


def _json_rows(result: RobustnessResult) -> list[dict]:
    return [
        {
            "perturbation": p.name,
            "label": p.label,
            "kind": p.kind,
            "value": p.value,
            "metrics": {
                label: {k: v for k, v in row[label].items() if not isinstance(v, (list, dict))}
                for label in result.labels
            },
        }
        for p, row in zip(result.perturbations, result.rows)
    ]


def write_outputs(out: str | Path, result: RobustnessResult) -> dict[str, Path]:
    """``robustness.md``, ``.csv``, ``.json`` and ``.png`` in ``out``, each written atomically."""
    out = Path(out)
    paths = {kind: out / f"robustness.{kind}" for kind in ("md", "csv", "json", "png")}
    write_text_atomic(paths["md"], _markdown(result))
    _write_csv(paths["csv"], result)
    document = {"checkpoints": result.checkpoints, "noise_seed": result.seed}
    write_json_atomic(paths["json"], {**document, "rows": _json_rows(result)})
    plot(paths["png"], result)
    return paths


def plot(path: str | Path, result: RobustnessResult) -> Path:
    """Grouped bars: AUC per perturbation, one colour per checkpoint, chance level dashed."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    perturbations, labels = result.perturbations, result.labels
    fig = Figure(figsize=(max(6.0, 0.8 * len(perturbations) + 2), 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(perturbations))
    width = 0.8 / max(1, len(labels))
    for k, label in enumerate(labels):
        values = [row[label].get("auc") for row in result.rows]
        ax.bar(
            x - 0.4 + width * (k + 0.5),
            [np.nan if v is None else v for v in values],
            width,
            label=label,
        )
    ax.axhline(0.5, linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set_xticks(x)
    ax.set_xticklabels([p.label for p in perturbations], rotation=35, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("AUC (frame level)")
    ax.set_title("AUC under perturbations (test split)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    return Path(path)
