"""Imbalance study: how each detector degrades as one class becomes rare in training (issue 5).

``dfshield imbalance --detectors ... --ratios 1 10 30 100`` runs the identical-protocol comparison
(:func:`dfshield.training.comparison.load_comparison_configs`) once per training ratio and seed
and reports mean ± standard deviation over the seeds.

**What a ratio means.** Only the *minority* class of the training split is subsampled, by video;
every video of the other class is kept and the validation and test splits are never touched.

* ``minority="fake"`` (default): all real training videos are kept and
  ``n_fake_kept = ⌊n_real / r⌋``, so the split is real:fake = r:1 (DDLN's Celeb-10/20/30 subsets).
* ``minority="real"``: all fakes are kept and ``n_real_kept = ⌊n_fake / r⌋`` (fake:real = r:1, the
  DFWild-Cup situation of the SP Cup paper).

``r = 1`` is balanced. A ratio is *reachable* when it keeps at least 2 minority videos
(``⌊n_major / r⌋ >= 2``) and no more than exist (``⌊n_major / r⌋ <= n_minority``: the minority is
never up-sampled and the majority never subsampled), i.e. ``n_major / n_minority <= r <=
n_major / 2`` roughly. Every ratio is checked before anything trains; an unreachable one is an
error naming the counts, the reachable range and, when the requested class is already the rarer
one, how to flip it with ``--minority``. Ratios must be numbers >= 1.

**Which videos.** The minority videos are sorted by full video path and permuted with a generator
seeded by the run's seed; the first ``n`` are kept. So counts are exact, the same seed gives the
same videos whatever the file order, and for one seed the subsets are nested (the videos kept at
ratio 30 are among those kept at ratio 10). Seed ``i`` of ``seeds`` (0-based) is
``train.seed + i`` and sets both the subsample and ``train.seed``; ``i = 0`` trains with the
protocol's own seed.

**How the subsample reaches the loader.** For each (ratio, seed) the training datasets' JSONs are
written into the run folder as filtered copies (their ``train`` split holds exactly the kept
videos; ``val`` and ``test`` are copied unchanged; every other JSON of the folder is linked) and
the run's ``data.json_dir`` points there. ``data.lmdb_dir`` stays the original: frame paths, hence
LMDB keys, are unchanged. The shared loader (``DeepfakeDataset``) reads the copy, so class counts
(e.g. the VS loss's balanced weights), training and the saved ``config.json`` all see the
subsample.

**Feature banks.** Validation and test are read through the protocol's own JSON folder, so their
banks are the same as in ``dfshield compare`` and are encoded once for all ratios, seeds and
detectors. For frozen-backbone detectors the training bank is the protocol's full training bank
(encoded once) restricted to the subsample's frames, row for row in the order the loader would
encode them; should a frame be missing from it, the subsample is encoded on its own instead.

**Outputs** in the run folder:

* ``imbalance.md`` — training counts per ratio, then one table per test set (the protocol's test
  split first, then each ``--extra-test`` set): rows = detector × ratio, columns AUC, AP, EER and
  macro F1 as ``mean ± std`` over seeds (sample std, n − 1; one seed: mean only); best mean per
  ratio and column in bold.
* ``imbalance.csv`` — the same numbers, one row per (test set, detector, ratio):
  ``test_set, detector, ratio, minority, n_seeds, train_real_videos, train_fake_videos,
  auc_mean, auc_std, ap_mean, ap_std, eer_mean, eer_std, f1_macro_mean, f1_macro_std``.
* ``imbalance_runs.csv`` — every (detector, ratio, seed, test set) with all metrics;
  ``imbalance.json`` — the settings, the summary and the runs.
* ``imbalance.png`` — test AUC against the ratio, log x axis, one line per detector, error bars =
  std over seeds; one panel per test set.
* ``ratio-<r>/seed-<s>/`` — the subsample (``data/json/``, ``subsample.json`` with the kept
  minority videos), one run folder per detector, and that comparison's ``results.md`` / ``.csv`` /
  ``.json`` and ``roc.png`` (extra test sets as extra rows, see :mod:`dfshield.training.extra_test`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, DataError
from dfshield.training.extra_test import (ExtraTestTrainer, default_cache_dir, file_lock,
                                          resolve_extra_tests, result_rows)

MINORITY_CLASSES = ("fake", "real")
LABEL_OF = {"real": 0, "fake": 1}

#: ``--ablation`` presets: config names in ``configs/ablation/``, in table order.
ABLATIONS: dict[str, tuple[str, ...]] = {
    "losses": ("ablation_bce", "ablation_vs", "ablation_cvar_vs", "ablation_cvar_vs_auc",
               "ablation_cvar_vs_auc_sam"),
}

#: ``(header, metric key, higher is better)`` of the summary tables (frame level).
SUMMARY_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("AUC", "auc", True), ("AP", "ap", True), ("EER", "eer", False), ("macro F1", "f1_macro", True))


# -- arguments -------------------------------------------------------------------------------

def parse_ratios(values: Sequence[Any] | None) -> list[float]:
    """Ratios as sorted floats; each must be a number >= 1, none repeated."""
    if not values:
        raise ConfigError("give at least one training ratio, e.g. --ratios 1 10 30 100 "
                          "(majority:minority = r:1; 1 = balanced)")
    ratios: list[float] = []
    for value in values:
        try:
            if isinstance(value, bool):
                raise ValueError
            ratio = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"ratio {value!r} is not a number; ratios are numbers >= 1 "
                              f"(majority:minority = r:1), e.g. --ratios 1 10 30 100") from None
        if not math.isfinite(ratio) or ratio < 1:
            raise ConfigError(f"ratio {value!r} must be a number >= 1 (majority:minority = r:1; 1 = "
                              f"balanced). To make the other class the rare one, keep the ratio and "
                              f"flip --minority")
        if ratio in ratios:
            raise ConfigError(f"ratio {value!r} is listed twice in --ratios")
        ratios.append(ratio)
    return sorted(ratios)


def check_minority(minority: str) -> str:
    if minority not in MINORITY_CLASSES:
        raise ConfigError(f"--minority must be fake or real, got {minority!r}."
                          f"{did_you_mean(str(minority), MINORITY_CLASSES)}")
    return minority


def check_seeds(seeds: Any) -> int:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds is the number of seeds per ratio, an integer >= 1; got {seeds!r}")
    return seeds


def ratio_text(ratio: float) -> str:
    return f"{ratio:g}"


def expand_detectors(detectors: Sequence[str] | None, ablation: str | None = None) -> list[str]:
    """The detector configs to run: an ablation preset's YAML paths first, then ``detectors``."""
    from dfshield.config import config_dir

    result: list[str] = []
    if ablation is not None:
        if ablation not in ABLATIONS:
            raise ConfigError(f"unknown --ablation {ablation!r}.{did_you_mean(str(ablation), ABLATIONS)} "
                              f"Presets: {', '.join(ABLATIONS)}")
        folder = config_dir() / "ablation"
        for name in ABLATIONS[ablation]:
            path = folder / f"{name}.yaml"
            if not path.is_file():
                raise ConfigError(f"ablation config {path} is missing; reinstall dfshield or set "
                                  f"DFSHIELD_CONFIG_DIR to a configs folder with ablation/")
            result.append(str(path))
    result += list(detectors or [])
    if not result:
        raise ConfigError("choose detectors: --detectors NAME ... and/or --ablation losses")
    return result


def detector_label(spec: str) -> str:
    """The name a detector config gets in tables and folders: a YAML path's stem, else the name."""
    path = Path(spec)
    return path.stem if path.suffix in (".yaml", ".yml") or path.is_file() else str(spec)


# -- subsampling -----------------------------------------------------------------------------

def training_videos(data: Any) -> list:
    """The training videos the shared loader reads (``VideoRecord``), one per full video path,
    videos without frames left out, sorted by path."""
    from dfshield.training.data.index import read_split

    seen: dict[str, Any] = {}
    for name in data.train_datasets:
        for record in read_split(data.json_dir, name, "train", data.compression, data.label_dict):
            if record.frames and record.video_path not in seen:
                seen[record.video_path] = record
    return [seen[path] for path in sorted(seen)]


def class_counts(records: Sequence[Any]) -> dict[str, int]:
    """Videos per class: ``{"real": n, "fake": n}``."""
    fake = sum(1 for r in records if r.label == 1)
    return {"real": len(records) - fake, "fake": fake}


def minority_kept(n_majority: int, ratio: float) -> int:
    """``⌊n_majority / ratio⌋``, computed exactly on the ratio's decimal value."""
    return math.floor(Fraction(n_majority) / Fraction(repr(float(ratio))))


def plan_subsample(counts: Mapping[str, int], ratios: Sequence[float], minority: str,
                   where: str = "the training split") -> dict[float, int]:
    """Minority videos kept at each ratio; every ratio is checked (see the module docstring)."""
    minority = check_minority(minority)
    majority = "real" if minority == "fake" else "fake"
    n_major, n_min = int(counts[majority]), int(counts[minority])
    have = f"{where} has {counts['real']} real and {counts['fake']} fake videos"
    if n_min < 2 or n_major < 2:
        short = minority if n_min < 2 else majority
        raise DataError(f"{have}; an imbalance study needs at least 2 videos of each class in it "
                        f"(too few {short} videos). Use training datasets with more videos")
    low, high = n_major / n_min, n_major / 2
    reachable = (f"with --minority {minority} (every {majority} video kept) the reachable "
                 f"{majority}:{minority} ratios run from {low:.4g} to {high:.4g}")
    plan: dict[float, int] = {}
    for ratio in parse_ratios(ratios):
        kept = minority_kept(n_major, ratio)
        if kept < 2:
            raise DataError(
                f"ratio {ratio_text(ratio)}:1 ({majority}:{minority}) leaves {kept} {minority} "
                f"training video(s) (⌊{n_major} {majority} / {ratio_text(ratio)}⌋); at least 2 are "
                f"needed. {have[0].upper() + have[1:]}: the largest reachable ratio is {high:.4g}; "
                f"{reachable}")
        if kept > n_min:
            flip = ""
            if n_min < n_major:
                flip = (f" {minority.capitalize()} is already the minority class of this split; "
                        f"to reach ratio {ratio_text(ratio)} subsample the {majority} videos instead "
                        f"(every {minority} video kept) with --minority {majority}, or drop the "
                        f"ratios below {low:.4g}")
            raise DataError(
                f"ratio {ratio_text(ratio)}:1 ({majority}:{minority}) needs {kept} {minority} "
                f"training videos (⌊{n_major} {majority} / {ratio_text(ratio)}⌋) but {have}; only "
                f"the {minority} videos are subsampled, never added; {reachable}.{flip}")
        plan[ratio] = kept
    return plan


def select_videos(records: Sequence[Any], minority: str, n_keep: int, seed: int) -> list:
    """Every majority video plus ``n_keep`` minority videos: the first ``n_keep`` of a permutation
    (seeded by ``seed``) of the minority videos sorted by full video path. Sorted by path."""
    label = LABEL_OF[check_minority(minority)]
    pool = sorted((r for r in records if r.label == label), key=lambda r: r.video_path)
    if not 0 <= n_keep <= len(pool):
        raise DataError(f"cannot keep {n_keep} {minority} videos out of {len(pool)}")
    order = np.random.default_rng(int(seed) % 2**63).permutation(len(pool))
    chosen = {pool[i].video_path for i in order[:n_keep]}
    return sorted((r for r in records if r.label != label or r.video_path in chosen),
                  key=lambda r: r.video_path)


def _is_level_mapping(node: Any) -> bool:
    from dfshield.training.data.index import COMPRESSION_LEVELS

    return (isinstance(node, dict) and bool(node) and all(k in COMPRESSION_LEVELS for k in node)
            and all(isinstance(v, dict) for v in node.values()))


def _filter_videos(videos: Any, keep: set[str]) -> Any:
    from dfshield.training.data.index import sort_frames, video_path_of

    if not isinstance(videos, dict):
        return videos
    kept = {}
    for name, video in videos.items():
        frames = video.get("frames") if isinstance(video, dict) else None
        if isinstance(frames, list) and frames:
            if video_path_of(sort_frames(str(f) for f in frames)[0]) in keep:
                kept[name] = video
    return kept


def filter_train_split(info: dict, keep: set[str]) -> dict:
    """A copy of a dataset JSON whose ``train`` split (at every compression level) holds only the
    videos whose full video path is in ``keep``; every other split is unchanged."""
    result = {}
    for dataset, groups in info.items():
        if not isinstance(groups, dict):
            result[dataset] = groups
            continue
        new_groups = {}
        for group, splits in groups.items():
            if not isinstance(splits, dict) or "train" not in splits:
                new_groups[group] = splits
                continue
            node = splits["train"]
            if _is_level_mapping(node):
                node = {level: _filter_videos(videos, keep) for level, videos in node.items()}
            else:
                node = _filter_videos(node, keep)
            new_groups[group] = {**splits, "train": node}
        result[dataset] = new_groups
    return result


def write_subsample(data: Any, kept: Sequence[Any], json_dir: str | os.PathLike) -> Path:
    """Write the filtered JSON copies (train datasets) and links (every other JSON) into
    ``json_dir`` and check that the loader reads back exactly ``kept``. Returns ``json_dir``."""
    from dfshield.training.data.index import json_path

    out = Path(json_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    keep = {r.video_path for r in kept}
    done: set[str] = set()
    for name in data.train_datasets:
        source = json_path(data.json_dir, name)
        if source.name in done:
            continue
        done.add(source.name)
        info = json.loads(source.read_text(encoding="utf-8"))
        write_if_changed(out / source.name, json.dumps(filter_train_split(info, keep)))
    # every other JSON of the folder is linked, so a run config saved with this json_dir can
    # still name any dataset of the original folder (e.g. dfshield test --extra-test NAME)
    for source in sorted(Path(data.json_dir).glob("*.json")):
        if source.name not in done:
            done.add(source.name)
            _link_or_copy(source.resolve(), out / source.name)
    check = training_videos(dataclasses.replace(data, json_dir=str(out)))
    if [r.video_path for r in check] != [r.video_path for r in kept]:
        raise DataError(f"the subsampled training split in {out} reads back {len(check)} videos, "
                        f"expected {len(kept)}; please report this with the dataset JSONs")
    return out


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` atomically unless the file already holds it (keeps mtimes stable, so
    concurrent ranks and re-runs agree on feature-bank fingerprints)."""
    with file_lock(path.with_name(f".{path.name}.lock")):
        if path.is_file() and not path.is_symlink():
            try:
                if path.read_text(encoding="utf-8") == text:
                    return
            except OSError:
                pass
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def _link_or_copy(source: Path, target: Path) -> None:
    import shutil

    with file_lock(target.with_name(f".{target.name}.lock")):
        if target.is_symlink() and target.resolve() == source:
            return
        if target.exists() or target.is_symlink():
            target.unlink()
        try:
            target.symlink_to(source)
        except OSError:  # pragma: no cover - file systems without symlinks
            shutil.copy2(source, target)


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
            from dfshield.training.data import DeepfakeDataset

            data = self.shared_data
            read = "train" if split == self.FULL_TRAIN else split
            names = data.test_datasets if split == "test" else data.train_datasets
            self._shared_datasets[split] = DeepfakeDataset(data, read, names, augment=False,
                                                           **self.detector.input_spec())
        return self._shared_datasets[split]

    def bank(self, split: str):
        if split != "train":
            return super().bank(split)
        if self._train_bank is None:
            self._train_bank = self._subset_of_full_bank() or super().bank("train")
        return self._train_bank

    def _subset_of_full_bank(self):
        from dfshield.training.feature_bank import FeatureBank, load_or_extract

        full = load_or_extract(
            self.detector.backbone, self.dataset(self.FULL_TRAIN), self.feature_cache,
            device=self.device, batch_size=min(self.cfg.train.batch_size, 256),
            num_workers=self.cfg.data.num_workers, progress=self.progress, dist_info=self.dist,
            description="train frames (all videos)")
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
        bank = FeatureBank(full.features[index], labels, [full.video_ids[r] for r in rows],
                           [full.frame_keys[r] for r in rows], full.path)
        return bank.to(self.device)


# -- the study -------------------------------------------------------------------------------

def run_imbalance(detectors: Sequence[str], ratios: Sequence[Any], run_dir: str | os.PathLike, *,
                  minority: str = "fake", seeds: int = 3, protocol: str | None = None,
                  overrides: Sequence[str] | None = None,
                  extra_layers: Sequence[tuple[str, dict]] | None = None,
                  feature_cache: str | os.PathLike | None = None,
                  extra_tests: Sequence[str] = (), extra_test_cache: str | os.PathLike | None = None,
                  ) -> dict[str, Any]:
    """Train and test every detector at every ratio and seed; write the outputs listed in the
    module docstring. Everything is checked (configs, ratios, extra test sets) before training.

    Returns ``{"summary": rows, "runs": rows, "counts": {ratio: {...}}, "run_dir": Path}``.
    """
    from dfshield.training.comparison import load_comparison_configs
    from dfshield.training.report import plot_roc, write_results

    ratios = parse_ratios(ratios)
    minority = check_minority(minority)
    seeds = check_seeds(seeds)
    specs = list(detectors)
    labels = [detector_label(spec) for spec in specs]
    if len(set(labels)) != len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise ConfigError(f"two detector configs share the name {', '.join(twice)}; rename a YAML file")
    base_layers = list(extra_layers or [])
    base = load_comparison_configs(specs, protocol, list(overrides or []), base_layers)
    reference = next(iter(base.values()))
    data = reference.data
    records = training_videos(data)
    counts = class_counts(records)
    where = f"the training split of {', '.join(data.train_datasets)}"
    plan = plan_subsample(counts, ratios, minority, where)
    cache = Path(feature_cache) if feature_cache else Path(reference.train.output_dir) / "feature_cache"
    extra_sets = resolve_extra_tests(extra_tests, data,
                                     extra_test_cache or default_cache_dir(reference),
                                     progress=reference.train.progress)
    main_set = f"{', '.join(data.test_datasets)} test"
    run_dir = Path(run_dir)
    seed_values = [reference.train.seed + i for i in range(seeds)]
    ratio_counts = {ratio: {minority: kept, _other(minority): counts[_other(minority)]}
                    for ratio, kept in plan.items()}

    runs: list[dict[str, Any]] = []
    is_main = True
    for ratio in ratios:
        for seed in seed_values:
            folder = run_dir / f"ratio-{ratio_text(ratio)}" / f"seed-{seed}"
            kept = select_videos(records, minority, plan[ratio], seed)
            json_dir = write_subsample(data, kept, folder / "data" / "json")
            write_if_changed(folder / "subsample.json", json.dumps({
                "ratio": ratio, "minority": minority, "seed": seed, "counts": class_counts(kept),
                "protocol_counts": counts, "json_dir": str(json_dir), "lmdb_dir": data.lmdb_dir,
                "kept_minority_videos": [r.video_path for r in kept if r.label == LABEL_OF[minority]],
            }, indent=1))
            layer = (f"imbalance ratio {ratio_text(ratio)} seed {seed}",
                     {"data": {"json_dir": str(json_dir)}, "train": {"seed": seed}})
            configs = load_comparison_configs(specs, protocol, list(overrides or []), [*base_layers, layer])
            rows, curves = [], {}
            for spec, label in zip(specs, labels):
                trainer = SubsampleTrainer(configs[spec], folder / label, feature_cache=cache,
                                           shared_data=data, extra_sets=extra_sets)
                summary = trainer.fit()
                result = trainer.test()
                extras = trainer.test_extra()
                is_main = trainer.dist.is_main
                rows += result_rows(label, main_set, result["metrics"], extras)
                curves[label] = (result["scores"], result["labels"])
                curves.update({f"{label} on {e['test_set']}": (e["scores"], e["labels"]) for e in extras})
                common = {"detector": label, "ratio": ratio, "seed": seed, "minority": minority,
                          "train_real_videos": ratio_counts[ratio]["real"],
                          "train_fake_videos": ratio_counts[ratio]["fake"],
                          "best_epoch": summary["best_epoch"]}
                runs.append({**common, "test_set": main_set, **_scalars(result["metrics"])})
                runs += [{**common, "test_set": e["test_set"], **_scalars(e["metrics"])} for e in extras]
            if is_main:
                write_results(folder, rows, title=f"Comparison at {ratio_text(ratio)}:1, seed {seed}")
                plot_roc(folder / "roc.png", curves)

    summary_rows = summarize(runs)
    if is_main:
        settings = {"minority": minority, "ratios": ratios, "seeds": seed_values,
                    "protocol_counts": counts, "train_datasets": list(data.train_datasets),
                    "test_sets": [main_set] + [e.label for e in extra_sets],
                    "counts": {ratio_text(r): c for r, c in ratio_counts.items()}}
        write_imbalance(run_dir, summary_rows, runs, settings)
    return {"summary": summary_rows, "runs": runs, "counts": ratio_counts, "run_dir": run_dir}


def _other(minority: str) -> str:
    return "real" if minority == "fake" else "fake"


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def summarize(runs: Sequence[Mapping[str, Any]],
              metrics: Sequence[tuple[str, str, bool]] = SUMMARY_METRICS) -> list[dict[str, Any]]:
    """Mean and sample standard deviation (n − 1; ``None`` for one seed) over seeds, one row per
    (test set, detector, ratio), in the order test sets and detectors first appear, by ratio."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["test_set"], run["detector"], run["ratio"]), []).append(run)
    set_order = list(dict.fromkeys(run["test_set"] for run in runs))
    detector_order = list(dict.fromkeys(run["detector"] for run in runs))
    rows = []
    for (test_set, detector, ratio), items in groups.items():
        first = items[0]
        row: dict[str, Any] = {"test_set": test_set, "detector": detector, "ratio": ratio,
                               "minority": first.get("minority"), "n_seeds": len(items),
                               "train_real_videos": first.get("train_real_videos"),
                               "train_fake_videos": first.get("train_fake_videos")}
        for _, key, _ in metrics:
            values = [v for v in (_number(item.get(key)) for item in items) if v is not None]
            row[f"{key}_mean"] = float(np.mean(values)) if values else None
            row[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) >= 2 else None
        rows.append(row)
    rows.sort(key=lambda r: (set_order.index(r["test_set"]), detector_order.index(r["detector"]), r["ratio"]))
    return rows


# -- writing ---------------------------------------------------------------------------------

CSV_COLUMNS = ("test_set", "detector", "ratio", "minority", "n_seeds", "train_real_videos",
               "train_fake_videos") + tuple(f"{key}_{stat}" for _, key, _ in SUMMARY_METRICS
                                            for stat in ("mean", "std"))


def write_imbalance(run_dir: str | os.PathLike, summary: Sequence[Mapping[str, Any]],
                    runs: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``imbalance.md``, ``imbalance.csv``, ``imbalance_runs.csv``, ``imbalance.json`` and
    ``imbalance.png`` into ``run_dir``; returns their paths by suffix."""
    import csv

    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "imbalance.md", "csv": out / "imbalance.csv",
             "runs_csv": out / "imbalance_runs.csv", "json": out / "imbalance.json",
             "png": out / "imbalance.png"}
    paths["md"].write_text(format_markdown(summary, settings), encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in summary:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run if k not in keys]
    with paths["runs_csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, restval="")
        writer.writeheader()
        for run in runs:
            writer.writerow({k: ("" if v is None else v) for k, v in run.items()})
    document = _json_ready({"settings": settings, "summary": summary, "runs": runs})
    paths["json"].write_text(json.dumps(document, indent=2, allow_nan=False), encoding="utf-8")
    plot_imbalance(paths["png"], summary, settings)
    return paths


def _json_ready(value: Any) -> Any:
    """A JSON-safe copy: mappings, lists, numbers (non-finite -> None), strings; others as text."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def format_markdown(summary: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
    """``imbalance.md``: settings, training counts per ratio, one table per test set."""
    minority = settings["minority"]
    majority = _other(minority)
    counts = settings["protocol_counts"]
    lines = ["# Imbalance study", "",
             f"Training split of {', '.join(settings['train_datasets'])}: {counts['real']} real and "
             f"{counts['fake']} fake videos. Minority class: **{minority}** — every {majority} training "
             f"video is kept and the {minority} videos are subsampled by video (seeded) to "
             f"⌊{majority} / r⌋ for each ratio r ({majority}:{minority} = r:1). Validation and test "
             f"splits are unchanged.", "",
             f"| Ratio ({majority}:{minority}) | real videos | fake videos |", "| ---: | ---: | ---: |"]
    for ratio, row in settings["counts"].items():
        lines.append(f"| {ratio}:1 | {row['real']} | {row['fake']} |")
    seeds = settings["seeds"]
    lines += ["", f"Seeds: {', '.join(map(str, seeds))} (each sets both the subsample and train.seed).", ""]
    headers = [header for header, _, _ in SUMMARY_METRICS]
    for number, test_set in enumerate(settings["test_sets"]):
        rows = [r for r in summary if r["test_set"] == test_set]
        if not rows:
            continue
        title = "Test split" if number == 0 else "Extra test set"
        lines += [f"## {title}: {test_set}", "",
                  "| Detector | Ratio | " + " | ".join(headers) + " |",
                  "| --- | ---: | " + " | ".join("---:" for _ in headers) + " |"]
        best = _best_marks(rows)
        for row in rows:
            cells = []
            for _, key, _ in SUMMARY_METRICS:
                text = _cell(row.get(f"{key}_mean"), row.get(f"{key}_std"))
                cells.append(f"**{text}**" if (id(row), key) in best else text)
            name = str(row["detector"]).replace("|", "\\|")
            lines.append(f"| {name} | {ratio_text(row['ratio'])}:1 | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Frame level, on the test split. Mean ± sample standard deviation over "
              f"{len(seeds)} seed(s) (one seed: mean only). EER: lower is better; AUC, AP and "
              f"macro F1 (averaged over both classes): higher is better. Best mean per ratio and "
              f"column in bold (when at least two detectors).", ""]
    return "\n".join(lines)


def _best_marks(rows: Sequence[Mapping[str, Any]]) -> set[tuple[int, str]]:
    marks: set[tuple[int, str]] = set()
    for ratio in {r["ratio"] for r in rows}:
        same = [r for r in rows if r["ratio"] == ratio]
        if len(same) < 2:
            continue
        for _, key, higher in SUMMARY_METRICS:
            values = [(round(r[f"{key}_mean"], 4), r) for r in same if r.get(f"{key}_mean") is not None]
            if len(values) < 2:
                continue
            target = (max if higher else min)(v for v, _ in values)
            marks.update((id(r), key) for v, r in values if v == target)
    return marks


def plot_imbalance(path: str | os.PathLike, summary: Sequence[Mapping[str, Any]],
                   settings: Mapping[str, Any], metric: str = "auc") -> Path:
    """Test ``metric`` against the ratio (log x), one line per detector with std error bars,
    one panel per test set. Uses matplotlib's Agg canvas (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullFormatter

    test_sets = [t for t in settings["test_sets"] if any(r["test_set"] == t for r in summary)]
    ratios = sorted({float(r["ratio"]) for r in summary})
    majority, minority = _other(settings["minority"]), settings["minority"]
    fig = Figure(figsize=(6.4 * max(1, len(test_sets)), 4.8), dpi=120)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, max(1, len(test_sets)), i + 1) for i in range(max(1, len(test_sets)))]
    for ax, test_set in zip(axes, test_sets):
        rows = [r for r in summary if r["test_set"] == test_set]
        for detector in dict.fromkeys(r["detector"] for r in rows):
            points = sorted((r for r in rows if r["detector"] == detector
                             and r.get(f"{metric}_mean") is not None), key=lambda r: r["ratio"])
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
        if metric in ("auc", "ap", "f1_macro"):  # bounded by 1: keep error bars from widening the axis
            low, high = ax.get_ylim()
            ax.set_ylim(low, min(high, 1.01))
        ax.set_ylabel(f"test {metric.upper()} (mean ± std over seeds)")
        ax.set_title(test_set)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png")
    return target
