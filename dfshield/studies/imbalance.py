"""``dfshield imbalance``: how each detector degrades as one class becomes rare in training.

One identical-protocol comparison per training ratio and seed (:mod:`.subsample` picks the
videos, :mod:`.imbalance_report` writes mean ± std); val/test banks are shared with ``compare``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dfshield._suggest import did_you_mean
from dfshield.engine.splits import Split, SplitProvider
from dfshield.errors import ConfigError
from dfshield.fileio import json_ready
from dfshield.scoring.extra_test_sets import (
    default_cache_dir,
    resolve_extra_tests,
    result_rows,
    run_extra_tests,
    with_extra_tests,
)
from dfshield.studies.imbalance_report import summarize, write_imbalance
from dfshield.studies.subsample import (
    LABEL_OF,
    check_minority,
    check_seeds,
    class_counts,
    majority_class,
    parse_ratios,
    plan_subsample,
    ratio_text,
    select_videos,
    training_videos,
    write_if_changed,
    write_subsample,
)

logger = logging.getLogger(__name__)

#: ``--ablation`` presets: config names in ``configs/ablation/``, in table order.
ABLATIONS: dict[str, tuple[str, ...]] = {
    "losses": (
        "ablation_bce",
        "ablation_vs",
        "ablation_cvar_vs",
        "ablation_cvar_vs_auc",
        "ablation_cvar_vs_auc_sam",
    ),
}


# -- detectors -------------------------------------------------------------------------------


def expand_detectors(detectors: Sequence[str] | None, ablation: str | None = None) -> list[str]:
    """The detector configs to run: an ablation preset's YAML paths first, then ``detectors``."""
    from dfshield.config import config_dir

    result: list[str] = []
    if ablation is not None:
        if ablation not in ABLATIONS:
            raise ConfigError(
                f"unknown --ablation {ablation!r}.{did_you_mean(str(ablation), ABLATIONS)} "
                f"Presets: {', '.join(ABLATIONS)}"
            )
        folder = config_dir() / "ablation"
        for name in ABLATIONS[ablation]:
            path = folder / f"{name}.yaml"
            if not path.is_file():
                raise ConfigError(
                    f"ablation config {path} is missing; reinstall dfshield or set "
                    f"DFSHIELD_CONFIG_DIR to a configs folder with ablation/"
                )
            result.append(str(path))
    result += list(detectors or [])
    if not result:
        raise ConfigError("choose detectors: --detectors NAME ... and/or --ablation losses")
    return result


# -- the splits of one subsample -------------------------------------------------------------


def subsample_splits(protocol_data: Any, subsample_data: Any) -> SplitProvider:
    """A run's splits: the subsample as ``train`` (over the full training split, whose bank rows it
    reuses) and the protocol's own ``val`` and ``test``."""
    protocol = SplitProvider.from_data(protocol_data)
    train = Split(
        subsample_data,
        "train",
        tuple(subsample_data.train_datasets),
        superset=protocol.split("train"),
    )
    return protocol.with_splits({"train": train})


# -- batched runs ----------------------------------------------------------------------------


def train_batched(
    planned: Sequence[tuple[Any, int, Path, dict]], labels: Sequence[str], make_trainer
) -> tuple[dict[tuple[Path, str], tuple[Any, dict | None]], dict[str, str]]:
    """``train.batched_runs``: each detector's runs differing only in seed and subsample, as one
    model. Returns ``{(run folder, label): (trainer, fit summary or None)}`` and ``{label: how
    trained}``."""
    from dfshield.engine.grouped_runs import batching_problem, detector_problem, fit_batched

    trained: dict[tuple[Path, str], tuple[Any, dict | None]] = {}
    how: dict[str, list[str]] = {}
    for label in labels:
        groups: dict[str, list[tuple[Path, Any]]] = {}
        for _ratio, _seed, folder, configs in planned:
            groups.setdefault(_batch_key(configs[label]), []).append((folder, configs[label]))
        for runs in groups.values():
            problem = detector_problem(runs[0][1]) or ("a single run" if len(runs) == 1 else None)
            if problem is None:
                trainers = [make_trainer(cfg, folder, label) for folder, cfg in runs]
                problem = next(filter(None, map(batching_problem, trainers)), None)
                keys = [(folder, label) for folder, _ in runs]
                summaries = [None] * len(trainers) if problem else fit_batched(trainers)
                trained.update(zip(keys, zip(trainers, summaries)))
            if problem is None:
                note = f"{len(runs)} runs batched as one model"
                logger.info("train.batched_runs: %s trains %s", label, note)
            else:
                note = f"{len(runs)} run(s) trained separately: {problem}"
                logger.info("train.batched_runs: %s trains its runs separately: %s", label, problem)
            how.setdefault(label, []).append(note)
    return trained, {label: "; ".join(notes) for label, notes in how.items()}


def _batch_key(cfg) -> str:
    """A run config without what may differ in one batched group (seed, subsample JSON folder)."""
    values = cfg.to_dict()
    values["train"] = {k: v for k, v in values["train"].items() if k != "seed"}
    values["data"] = {k: v for k, v in values["data"].items() if k != "json_dir"}
    return json.dumps(values, sort_keys=True, default=str)


# -- the study -------------------------------------------------------------------------------


def run_imbalance(
    detectors: Sequence[str],
    ratios: Sequence[Any],
    run_dir: str | os.PathLike,
    *,
    minority: str = "fake",
    seeds: int = 3,
    protocol: str | None = None,
    overrides: Sequence[str] | None = None,
    extra_layers: Sequence[tuple[str, dict]] | None = None,
    feature_cache: str | os.PathLike | None = None,
    extra_tests: Sequence[str] = (),
    extra_test_cache: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train and test every detector at every ratio and seed (all checked first); write the report.
    Returns ``{"summary", "runs", "counts", "batching", "run_dir"}``."""
    from dfshield.engine.feature_bank import feature_cache_dir
    from dfshield.engine.trainer import Trainer
    from dfshield.eval.results import plot_roc, write_results
    from dfshield.studies.comparison import load_comparison_configs, run_name

    ratios = parse_ratios(ratios)
    minority = check_minority(minority)
    seeds = check_seeds(seeds)
    specs = list(detectors)
    labels = [run_name(spec) for spec in specs]
    if len(set(labels)) != len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise ConfigError(
            f"two detector configs share the name {', '.join(twice)}; rename a YAML file"
        )
    base_layers = list(extra_layers or [])
    base = load_comparison_configs(specs, protocol, list(overrides or []), base_layers)
    reference = next(iter(base.values()))
    data = reference.data
    records = training_videos(data)
    counts = class_counts(records)
    where = f"the training split of {', '.join(data.train_datasets)}"
    plan = plan_subsample(counts, ratios, minority, where)
    cache = feature_cache_dir(reference, feature_cache)
    extra_sets = resolve_extra_tests(
        extra_tests,
        data,
        extra_test_cache or default_cache_dir(reference),
        progress=reference.train.progress,
    )
    main_set = f"{', '.join(data.test_datasets)} test"
    run_dir = Path(run_dir)
    seed_values = [reference.train.seed + i for i in range(seeds)]
    ratio_counts = {
        ratio: {minority: kept, majority_class(minority): counts[majority_class(minority)]}
        for ratio, kept in plan.items()
    }

    # every subsample written and every run config loaded before the first detector trains
    planned = []
    for ratio in ratios:
        for seed in seed_values:
            folder = run_dir / f"ratio-{ratio_text(ratio)}" / f"seed-{seed}"
            kept = select_videos(records, minority, plan[ratio], seed)
            json_dir = write_subsample(data, kept, folder / "data" / "json")
            described = {
                "ratio": ratio,
                "minority": minority,
                "seed": seed,
                "counts": class_counts(kept),
                "protocol_counts": counts,
                "json_dir": str(json_dir),
                "lmdb_dir": data.lmdb_dir,
                "kept_minority_videos": [
                    r.video_path for r in kept if r.label == LABEL_OF[minority]
                ],
            }
            write_if_changed(folder / "subsample.json", json.dumps(described, indent=1))
            layer = (
                f"imbalance ratio {ratio_text(ratio)} seed {seed}",
                {"data": {"json_dir": str(json_dir)}, "train": {"seed": seed}},
            )
            configs = load_comparison_configs(
                specs, protocol, list(overrides or []), [*base_layers, layer]
            )
            planned.append((ratio, seed, folder, configs))

    def make_trainer(cfg, folder: Path, label: str) -> Trainer:
        splits = with_extra_tests(subsample_splits(data, cfg.data), extra_sets)
        return Trainer(cfg, folder / label, feature_cache=cache, splits=splits, overwrite=overwrite)

    if reference.train.batched_runs:
        trained, batching = train_batched(planned, labels, make_trainer)
    else:
        trained, batching = (
            {},
            dict.fromkeys(labels, "trained separately: train.batched_runs is false"),
        )
    runs: list[dict[str, Any]] = []
    is_main = True
    for ratio, seed, folder, configs in planned:
        rows, curves = [], {}
        for label in labels:
            trainer, summary = trained.pop((folder, label), (None, None))
            if trainer is None:
                trainer = make_trainer(configs[label], folder, label)
            if summary is None:
                summary = trainer.fit()
            result = trainer.test()
            extras = run_extra_tests(trainer.evaluator, extra_sets, trainer.run_dir, trainer.name)
            is_main = trainer.dist.is_main
            rows += result_rows(label, main_set, result["metrics"], extras)
            curves[label] = (result["scores"], result["labels"])
            curves.update(
                {f"{label} on {e['test_set']}": (e["scores"], e["labels"]) for e in extras}
            )
            common = {
                "detector": label,
                "ratio": ratio,
                "seed": seed,
                "minority": minority,
                "train_real_videos": ratio_counts[ratio]["real"],
                "train_fake_videos": ratio_counts[ratio]["fake"],
                "best_epoch": summary["best_epoch"],
            }
            runs.append({**common, "test_set": main_set, **json_ready(result["metrics"])})
            runs += [
                {**common, "test_set": e["test_set"], **json_ready(e["metrics"])} for e in extras
            ]
        if is_main:
            write_results(folder, rows, title=f"Comparison at {ratio_text(ratio)}:1, seed {seed}")
            plot_roc(folder / "roc.png", curves)

    summary_rows = summarize(runs)
    if is_main:
        settings = {
            "minority": minority,
            "ratios": ratios,
            "seeds": seed_values,
            "protocol_counts": counts,
            "train_datasets": list(data.train_datasets),
            "test_sets": [main_set] + [e.label for e in extra_sets],
            "counts": {ratio_text(r): c for r, c in ratio_counts.items()},
            "batching": batching,
        }
        write_imbalance(run_dir, summary_rows, runs, settings)
    return {
        "summary": summary_rows,
        "runs": runs,
        "counts": ratio_counts,
        "batching": batching,
        "run_dir": run_dir,
    }
