"""Seed-paired differences and the linear head's learning curves of a ``dfshield imbalance`` run.

Every (ratio, seed) trains all detectors on the *same* subsample, so differences between two
detectors can be paired by seed, which removes the subsample's share of the variance. Prints two
Markdown tables:

1. test AUC differences per seed — VS − BCE (does the VS loss help over BCE?) and, on top of VS,
   each added component: CVaR(VS) − VS, CVaR(VS)+AUC − CVaR(VS), +SAM − CVaR(VS)+AUC;
2. the ``linear`` head's validation AUC at its first and last epoch, per ratio and seed (from each
   run's ``log.csv``): how far training moved it from its random initialisation.

Usage::

    python scripts/experiments/paired_differences.py /tmp/dfshield-exp/runs/imbalance \
        > docs/experiments/paired.md
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

STEPS = (
    ("VS − BCE", "ablation_vs", "ablation_bce"),
    ("CVaR(VS) − VS", "ablation_cvar_vs", "ablation_vs"),
    ("+AUC − CVaR(VS)", "ablation_cvar_vs_auc", "ablation_cvar_vs"),
    ("+SAM − CVaR(VS)+AUC", "ablation_cvar_vs_auc_sam", "ablation_cvar_vs_auc"),
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit(__doc__)
    run_dir = Path(argv[0])
    auc: dict[tuple[float, int], dict[str, float]] = defaultdict(dict)
    with (run_dir / "imbalance_runs.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            auc[(float(row["ratio"]), int(row["seed"]))][row["detector"]] = float(row["auc"])

    print("| ratio | seed | " + " | ".join(name for name, _, _ in STEPS) + " |")
    print("| ---: | ---: | " + " | ".join("---:" for _ in STEPS) + " |")
    for ratio, seed in sorted(auc):
        row = auc[(ratio, seed)]
        cells = [f"{row[a] - row[b]:+.4f}" for _, a, b in STEPS]
        print(f"| {ratio:g}:1 | {seed} | " + " | ".join(cells) + " |")
    print()
    print("Test AUC of the first detector minus the second, same ratio, seed and subsample.")
    print()

    print(
        "| ratio | seed | linear: val AUC, epoch 1 | val AUC, last epoch | best epoch | test AUC |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for ratio, seed in sorted(auc):
        log = run_dir / f"ratio-{ratio:g}" / f"seed-{seed}" / "linear" / "log.csv"
        if not log.is_file():
            continue
        rows = list(csv.DictReader(log.open(newline="")))
        best = max(rows, key=lambda r: float(r["val_auc"]))
        first, last = float(rows[0]["val_auc"]), float(rows[-1]["val_auc"])
        print(
            f"| {ratio:g}:1 | {seed} | {first:.3f} | {last:.3f} "
            f"| {best['epoch']} | {auc[(ratio, seed)]['linear']:.4f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
