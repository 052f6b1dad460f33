"""``dfshield robustness``: re-test checkpoints on their test split under image perturbations.

Every frame of the test split (of each checkpoint's saved config; ``--protocol`` / ``--set``
override its data section as in ``dfshield test``) is decoded, perturbed
(``dfshield.eval.perturbations``: JPEG, Gaussian blur, down- and up-scaling, Gaussian noise,
and ``clean``), prepared exactly as the dataset prepares test frames, and scored. A frozen
backbone re-encodes the perturbed frames in memory: nothing is read from or written to the
feature-bank cache, so clean banks are never mixed with perturbed features. Checkpoints whose
frozen backbones are identical share one encoding of each batch.

Writes into ``--out``: ``robustness.md`` (AUC, ACC, EER and video AUC tables: one row per
perturbation, one column per checkpoint), ``robustness.csv``, ``robustness.json`` and
``robustness.png`` (AUC per perturbation, one bar per checkpoint).

ACC is at each checkpoint's decision threshold (``--threshold``, default the validation EER
threshold stored in the checkpoint), not at 0.5 as ``dfshield test`` reports it; AUC, EER and
video AUC do not depend on a threshold. The ``clean`` row's AUC equals ``dfshield test``'s.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from dfshield.commands._common import timestamped_dir

METRICS = (("AUC", "auc"), ("ACC", "acc"), ("EER", "eer"), ("video AUC", "video_auc"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        dest="checkpoints",
        action="append",
        required=True,
        metavar="PATH",
        help="a best.pt (repeat for several checkpoints)",
    )
    parser.add_argument(
        "--protocol",
        metavar="FILE",
        help="protocol YAML whose data section replaces the checkpoints' (test split)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value of every checkpoint, e.g. --set "
        "data.test_datasets=[Celeb-DF-v2] (repeatable; values are YAML)",
    )
    parser.add_argument(
        "--perturbations",
        metavar="LIST",
        help="comma-separated, e.g. clean,jpeg:75,blur:1,downscale:0.5,noise:5 "
        "(default: clean, jpeg 95/75/50/30, blur 1/2, downscale 0.5/0.25, noise 5/10)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default <train.output_dir>/robustness-<time>)"
    )
    parser.add_argument(
        "--threshold",
        default="eer",
        metavar="RULE",
        help="threshold for ACC: eer (stored in each checkpoint; default), fpr:X or a number",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the Gaussian noise (default 0)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="frames per forward pass (default 64)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _labels(scorers) -> list[str]:
    """Column labels: the detector name; ``name (run/best)`` when two share a name (and a number
    when even that is shared)."""
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


def run(args: argparse.Namespace) -> int:
    from dfshield.config import build_config, load_yaml, parse_overrides
    from dfshield.data import DeepfakeDataset
    from dfshield.engine.progress import progress_bar
    from dfshield.errors import ConfigError
    from dfshield.eval.inference import PerturbedDataset, Scorer, score_dataset
    from dfshield.eval.perturbations import parse_perturbations
    from dfshield.eval.predictions import evaluate_predictions

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    perturbations = parse_perturbations(args.perturbations)
    extra_layers = []
    if args.protocol:
        extra_layers.append((args.protocol, {"data": load_yaml(args.protocol).get("data", {})}))
    if args.overrides:
        extra_layers.append(("--set", parse_overrides(args.overrides)))

    scorers, configs = [], []
    for path in args.checkpoints:
        scorer = Scorer.from_checkpoint(path, device=args.device, threshold=args.threshold)
        saved = scorer.config.to_dict()
        configs.append(build_config([(f"{path} (saved config)", saved), *extra_layers]))
        scorers.append(scorer)
    labels = _labels(scorers)

    # one dataset per (data section, frame preparation): its frames are read once per perturbation
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (scorer, cfg) in enumerate(zip(scorers, configs)):
        data_key = json.dumps(cfg.to_dict()["data"], sort_keys=True, default=str)
        groups.setdefault((data_key, scorer.spec_key()), []).append(i)
    datasets = {}
    for key, members in groups.items():
        first = scorers[members[0]]
        cfg = configs[members[0]]
        datasets[key] = DeepfakeDataset(
            cfg.data, "test", cfg.data.test_datasets, augment=False, **first.detector.input_spec()
        )

    results: list[dict[str, dict]] = []  # per perturbation: label -> metrics
    bar = progress_bar(
        total=len(perturbations) * len(groups),
        enabled=not args.no_progress,
        desc="robustness",
        unit="run",
    )
    for perturbation in perturbations:
        row: dict[str, dict] = {}
        for key, members in groups.items():
            dataset = datasets[key]
            if perturbation.kind != "clean":
                dataset = PerturbedDataset(dataset, perturbation, seed=args.seed)
            members_scorers = [scorers[i] for i in members]
            splits = score_dataset(
                members_scorers,
                dataset,
                batch_size=args.batch_size,
                num_workers=configs[members[0]].data.num_workers,
                progress=not args.no_progress,
                description=perturbation.name,
            )
            for i, split in zip(members, splits):
                row[labels[i]] = evaluate_predictions(
                    split, threshold=scorers[i].threshold.value, bootstrap=0
                )
            bar.update(1)
        results.append(row)
    bar.close()

    out = Path(args.out) if args.out else timestamped_dir(configs[0].train.output_dir, "robustness")
    checkpoints = [
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
    paths = write_outputs(out, perturbations, labels, results, checkpoints, seed=args.seed)
    print(format_table(perturbations, labels, results, "auc"))
    print(f"results: {', '.join(str(p) for p in paths.values())}")
    return 0


# -----------------------------------------------------------------------------------------
# output
# -----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4f}"


def format_table(perturbations, labels, results, key: str) -> str:
    """Plain-text table of one metric: a row per perturbation, a column per checkpoint."""
    title = dict((k, h) for h, k in METRICS)[key]
    table = [["perturbation", *labels]]
    table += [
        [p.name, *(_cell(row[label].get(key)) for label in labels)]
        for p, row in zip(perturbations, results)
    ]
    widths = [max(len(r[k]) for r in table) for k in range(len(table[0]))]
    lines = [f"{title} per perturbation"]
    for n, r in enumerate(table):
        lines.append(
            "  ".join(
                c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown(perturbations, labels, results, checkpoints, seed: int) -> str:
    lines = [
        "# Robustness to perturbations",
        "",
        "Test split of each checkpoint re-scored with every frame perturbed before "
        "preprocessing (`dfshield robustness`). ACC is at each checkpoint's decision "
        "threshold; AUC, EER and video AUC need none. Gaussian noise seed: "
        f"{seed}.",
        "",
    ]
    for ckpt in checkpoints:
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
        for p, row in zip(perturbations, results):
            cells = " | ".join(_cell(row[label].get(key)) for label in labels)
            lines.append(f"| {p.label} | {cells} |")
    return "\n".join(lines) + "\n"


def write_outputs(
    out: Path, perturbations, labels, results, checkpoints, seed: int
) -> dict[str, Path]:
    """``robustness.md``, ``.csv``, ``.json`` and ``.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / f"robustness.{kind}" for kind in ("md", "csv", "json", "png")}
    paths["md"].write_text(
        _markdown(perturbations, labels, results, checkpoints, seed), encoding="utf-8"
    )
    columns = ["perturbation", "label"] + [
        f"{label} {title}" for label in labels for title, _ in METRICS
    ]
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for p, row in zip(perturbations, results):
            writer.writerow(
                [p.name, p.label]
                + [
                    "" if row[label].get(key) is None else repr(float(row[label][key]))
                    for label in labels
                    for _, key in METRICS
                ]
            )
    rows = [
        {
            "perturbation": p.name,
            "label": p.label,
            "kind": p.kind,
            "value": p.value,
            "metrics": {
                label: {k: v for k, v in row[label].items() if not isinstance(v, (list, dict))}
                for label in labels
            },
        }
        for p, row in zip(perturbations, results)
    ]
    paths["json"].write_text(
        json.dumps(
            {"checkpoints": checkpoints, "noise_seed": seed, "rows": rows},
            indent=2,
            allow_nan=False,
        )
        + "\n",
        encoding="utf-8",
    )
    plot(paths["png"], perturbations, labels, results)
    return paths


def plot(path: Path, perturbations, labels, results) -> Path:
    """Grouped bars: AUC per perturbation, one colour per checkpoint, chance level dashed."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.8 * len(perturbations) + 2), 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(perturbations))
    width = 0.8 / max(1, len(labels))
    for k, label in enumerate(labels):
        values = [row[label].get("auc") for row in results]
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
    fig.savefig(path, format="png")
    return path
