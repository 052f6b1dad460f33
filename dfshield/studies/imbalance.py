"""Imbalance study: how each detector degrades as one class becomes rare in training (issue 5).

``dfshield imbalance --detectors ... --ratios 1 10 30 100`` runs the identical-protocol comparison
(:func:`dfshield.studies.comparison.load_comparison_configs`) once per training ratio and seed
and reports mean ± standard deviation over the seeds. This module runs the study (detector list,
training and testing on each subsample); :mod:`dfshield.studies.subsample` defines a ratio, its
reachable range and which videos are kept, and :mod:`dfshield.studies.imbalance_report` lists and
writes the outputs.

**Feature banks.** Validation and test are read through the protocol's own JSON folder, so their
banks are the same as in ``dfshield compare`` and are encoded once for all ratios, seeds and
detectors. For frozen-backbone detectors the training bank is the protocol's full training bank
(encoded once) restricted to the subsample's frames, row for row in the order the loader would
encode them; should a frame be missing from it, the subsample is encoded on its own instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError
from dfshield.eval.extra_test import (
    ExtraTestTrainer,
    default_cache_dir,
    resolve_extra_tests,
    result_rows,
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


# -- training on a subsample -----------------------------------------------------------------


class SubsampleTrainer(ExtraTestTrainer):
    """A trainer whose training split is the subsample (``cfg.data``) while validation, test and
    the full training bank are read through the protocol's data config (``shared_data``), so their
    feature banks are shared by every ratio, seed and detector (see the module docstring)."""

    FULL_TRAIN = "train (all videos)"

    def __init__(self, cfg, run_dir, feature_cache=None, *, shared_data, extra_sets=()):
        super().__init__(cfg, run_dir, feature_cache=feature_cache, extra_sets=extra_sets)
        self.shared_data = shared_data
        self._shared_datasets: dict[str, Any] = {}
        self._train_bank = None

    def dataset(self, split: str):
        if split not in ("val", "test", self.FULL_TRAIN):
            return super().dataset(split)
        if split not in self._shared_datasets:
            from dfshield.data import DeepfakeDataset

            data = self.shared_data
            read = "train" if split == self.FULL_TRAIN else split
            names = data.test_datasets if split == "test" else data.train_datasets
            self._shared_datasets[split] = DeepfakeDataset(
                data, read, names, augment=False, **self.detector.input_spec()
            )
        return self._shared_datasets[split]

    def bank(self, split: str):
        if split != "train":
            return super().bank(split)
        if self._train_bank is None:
            self._train_bank = self._subset_of_full_bank() or super().bank("train")
        return self._train_bank

    def _subset_of_full_bank(self):
        from dfshield.engine.feature_bank import FeatureBank, load_or_extract

        full = load_or_extract(
            self.detector.backbone,
            self.dataset(self.FULL_TRAIN),
            self.feature_cache,
            device=self.device,
            batch_size=min(self.cfg.train.batch_size, 256),
            num_workers=self.cfg.data.num_workers,
            progress=self.progress,
            dist_info=self.dist,
            description="train frames (all videos)",
        )
        subset = self.dataset("train")
        row_of = {key: row for row, key in enumerate(full.frame_keys)}
        try:
            rows = [row_of[str(key)] for key in subset.frame_keys]
        except KeyError:
            return None
        index = torch.tensor(rows, dtype=torch.long)
        labels = full.labels[index]
        if not torch.equal(labels, torch.as_tensor(subset.labels, dtype=labels.dtype)):
            return None
        bank = FeatureBank(
            full.features[index],
            labels,
            [full.video_ids[r] for r in rows],
            [full.frame_keys[r] for r in rows],
            full.path,
        )
        return bank.to(self.device)


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
) -> dict[str, Any]:
    """Train and test every detector at every ratio and seed; write the outputs listed in the
    module docstring. Everything is checked (configs, ratios, extra test sets) before training.

    Returns ``{"summary": rows, "runs": rows, "counts": {ratio: {...}}, "run_dir": Path}``.
    """
    from dfshield.eval.report import plot_roc, write_results
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
    cache = (
        Path(feature_cache) if feature_cache else Path(reference.train.output_dir) / "feature_cache"
    )
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

    runs: list[dict[str, Any]] = []
    is_main = True
    for ratio in ratios:
        for seed in seed_values:
            folder = run_dir / f"ratio-{ratio_text(ratio)}" / f"seed-{seed}"
            kept = select_videos(records, minority, plan[ratio], seed)
            json_dir = write_subsample(data, kept, folder / "data" / "json")
            write_if_changed(
                folder / "subsample.json",
                json.dumps(
                    {
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
                    },
                    indent=1,
                ),
            )
            layer = (
                f"imbalance ratio {ratio_text(ratio)} seed {seed}",
                {"data": {"json_dir": str(json_dir)}, "train": {"seed": seed}},
            )
            configs = load_comparison_configs(
                specs, protocol, list(overrides or []), [*base_layers, layer]
            )
            rows, curves = [], {}
            for spec, label in zip(specs, labels):
                trainer = SubsampleTrainer(
                    configs[label],
                    folder / label,
                    feature_cache=cache,
                    shared_data=data,
                    extra_sets=extra_sets,
                )
                summary = trainer.fit()
                result = trainer.test()
                extras = trainer.test_extra()
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
                runs.append({**common, "test_set": main_set, **_scalars(result["metrics"])})
                runs += [
                    {**common, "test_set": e["test_set"], **_scalars(e["metrics"])} for e in extras
                ]
            if is_main:
                write_results(
                    folder, rows, title=f"Comparison at {ratio_text(ratio)}:1, seed {seed}"
                )
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
        }
        write_imbalance(run_dir, summary_rows, runs, settings)
    return {"summary": summary_rows, "runs": runs, "counts": ratio_counts, "run_dir": run_dir}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out
