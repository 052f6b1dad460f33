"""Shortcut controls of the face study (docs/experiments.md, step 4).

Two questions, each answered by AUCs (0.5 = the classes cannot be told apart):

1. **Format and file size.** In the source folder every real face is a PNG and every fake a JPEG
   q75, so the file's byte length alone separates the classes (the trap). Does it still after
   ``build-lmdb --reencode jpeg:75 --size 64``? Scalars, on all 2,400 FacesStudy images: the
   source file's byte length; the byte length of the JPEG q75 re-encoding of the source (what
   the builder computes before resizing); the byte length of the stored 64×64 PNG frame.
2. **Compression history.** Re-encoding cannot undo the fakes' earlier JPEG q75 pass: a real face
   is compressed once, a fake twice. FacesControl holds the study's 1,200 real faces twice, once as
   they are and once after a first JPEG q75 pass (``faces_prepare.py``), built exactly like the
   study. Within it the classes differ *only* in compression history. Probes: the same scalars,
   plus a logistic-regression and a small MLP probe on the **frozen backbone features** used by
   every detector of the study (5-fold cross-validation, the two versions of an image always in the
   same fold). For comparison, the same probes on FacesStudy real vs fake (5-fold stratified).

A scalar's AUC is reported in the direction that separates best (max(AUC, 1 − AUC)), so 0.5 is
the floor. Writes ``shortcut_control.md`` and ``shortcut_control.csv`` into ``--out``.

Usage::

    python scripts/experiments/shortcut_control.py --exp /tmp/dfshield-exp --out docs/experiments
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[2]


def _features(exp: Path, dataset: str, folder: str, config: str, protocol: str):
    """Frozen-backbone features of every frame (train + val + test) of a built dataset, through
    dfshield's own feature bank (the cache the study uses)."""
    import torch

    from dfshield.config import load_run_config
    from dfshield.data import DeepfakeDataset
    from dfshield.detectors import build_detector
    from dfshield.engine.feature_bank import load_or_extract

    overrides = [
        f"data.train_datasets=[{dataset}]",
        f"data.test_datasets=[{dataset}]",
        f"data.json_dir={exp / 'data' / folder / 'json'}",
        f"data.lmdb_dir={exp / 'data' / folder / 'lmdb'}",
        f"data.label_dict={{{dataset}_real: 0, {dataset}_fake: 1}}",
        f"detector.backbone.checkpoint={exp / 'backbone' / 'resnet10t_faces64.pth'}",
    ]
    cfg = load_run_config(protocol, config, overrides)
    detector = build_detector(cfg.detector)
    parts = []
    for split in ("train", "val", "test"):
        data = DeepfakeDataset(cfg.data, split, [dataset], augment=False, **detector.input_spec())
        bank = load_or_extract(
            detector.backbone,
            data,
            exp / "feature_cache",
            device=torch.device("cpu"),
            batch_size=256,
            progress=False,
            description=f"{dataset} {split}",
        )
        parts.append(bank)
    features = np.concatenate([b.features.numpy() for b in parts])
    labels = np.concatenate([b.labels.numpy() for b in parts])
    keys = [k for b in parts for k in b.frame_keys]
    return features, labels, keys


def _stored_png_bytes(exp: Path, folder: str, dataset: str, keys: list[str]) -> np.ndarray:
    """Byte length of each stored frame, read through dfshield's own LMDB reader."""
    from dfshield.data.frame_stores import LmdbStore

    store = LmdbStore(exp / "data" / folder / "lmdb" / f"{dataset}_lmdb", dataset)
    return np.asarray([len(store.get(k, dataset)) for k in keys], dtype=np.float64)


def _source_files(exp: Path, folder: str, keys: list[str]) -> list[Path]:
    """``<Dataset>\\<real|fake>\\frames\\<stem>\\000.png`` → its file in src/<folder>/<label>/."""
    paths = []
    for key in keys:
        parts = key.replace("\\", "/").split("/")
        label, stem = parts[1], parts[3]
        matches = list((exp / "src" / folder / label).glob(f"{stem}.*"))
        if len(matches) != 1:
            raise SystemExit(
                f"cannot find the source of {key} under {exp / 'src' / folder / label}"
            )
        paths.append(matches[0])
    return paths


def _reencoded_bytes(paths: list[Path], quality: int) -> np.ndarray:
    sizes = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        sizes.append(len(buffer))
    return np.asarray(sizes, dtype=np.float64)


def _separability(values: np.ndarray, labels: np.ndarray) -> float:
    auc = roc_auc_score(labels, values)
    return max(auc, 1.0 - auc)


def _paired(values: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """Fraction of images whose compressed-twice version scores above its compressed-once
    version (ties count half): a paired test, far more sensitive than the AUC because the large
    differences *between* images cancel out. 0.5 = no consistent difference."""
    first = {}
    for value, label, group in zip(values, labels, groups):
        first.setdefault(group, {})[int(label)] = value
    diffs = np.asarray([pair[1] - pair[0] for pair in first.values() if len(pair) == 2])
    return float(np.mean(diffs > 0) + 0.5 * np.mean(diffs == 0))


def _probe(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, kind: str, seed: int = 0
) -> tuple[float, float, np.ndarray]:
    """Mean and std over 5 folds of the test-fold AUC of a probe trained on the other folds, and
    every image's out-of-fold score."""
    if groups is None:
        folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(features, labels)
    else:
        folds = GroupKFold(5).split(features, labels, groups)
    aucs, scores = [], np.zeros(len(labels))
    for train, test in folds:
        if kind == "linear":
            model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
        else:
            model = make_pipeline(
                StandardScaler(),
                MLPClassifier(
                    (256,), alpha=1e-3, max_iter=300, early_stopping=True, random_state=seed
                ),
            )
        model.fit(features[train], labels[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
        aucs.append(roc_auc_score(labels[test], scores[test]))
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1)), scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exp", type=Path, default=Path("/tmp/dfshield-exp"), help="experiment folder"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "experiments", help="output folder"
    )
    parser.add_argument(
        "--quality", type=int, default=75, help="the --reencode quality of the build"
    )
    parser.add_argument(
        "--config",
        default=str(ROOT / "configs" / "experiments" / "linear.yaml"),
        help="a study detector config (its frozen backbone is probed)",
    )
    parser.add_argument(
        "--protocol", default=str(ROOT / "configs" / "experiments" / "faces_protocol.yaml")
    )
    args = parser.parse_args(argv)
    started = time.time()

    rows = []
    sets = (
        ("FacesStudy", "study", "real (PNG) vs fake (JPEG q75), re-encoded", "real", "fake"),
        (
            "FacesControl",
            "control",
            "real once vs the same real after JPEG q75, re-encoded",
            "single",
            "double",
        ),
    )
    for dataset, folder, question, neg, pos in sets:
        features, labels, keys = _features(args.exp, dataset, folder, args.config, args.protocol)
        sources = _source_files(args.exp, folder, keys)
        groups = np.asarray([p.stem for p in sources]) if folder == "control" else None
        scalars = {
            "source file byte length (the trap)": np.asarray(
                [p.stat().st_size for p in sources], float
            ),
            f"byte length of the JPEG q{args.quality} re-encoding (128 px)": _reencoded_bytes(
                sources, args.quality
            ),
            "byte length of the stored 64×64 PNG": _stored_png_bytes(
                args.exp, folder, dataset, keys
            ),
        }
        n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
        for name, values in scalars.items():
            paired = None if groups is None else _paired(values, labels, groups)
            rows.append(
                {
                    "set": dataset,
                    "question": question,
                    "probe": name,
                    "auc": _separability(values, labels),
                    "auc_std": None,
                    "paired": None if paired is None else max(paired, 1.0 - paired),
                    "n": f"{n_neg} {neg} / {n_pos} {pos}",
                }
            )
        for kind, label in (
            ("linear", "logistic regression on the frozen backbone features, 5-fold CV"),
            ("mlp", "MLP (256 hidden) on the frozen backbone features, 5-fold CV"),
        ):
            mean, std, scores = _probe(features, labels, groups, kind)
            rows.append(
                {
                    "set": dataset,
                    "question": question,
                    "probe": label,
                    "auc": mean,
                    "auc_std": std,
                    "paired": None if groups is None else _paired(scores, labels, groups),
                    "n": f"{n_neg} {neg} / {n_pos} {pos}",
                }
            )
        if groups is not None:  # how far apart the two versions of an image are, in context
            by = {}
            for row_features, label, group in zip(features, labels, groups):
                by.setdefault(group, {})[int(label)] = row_features
            pairs = [(v[0], v[1]) for v in by.values() if len(v) == 2]
            within = np.mean([np.linalg.norm(a - b) for a, b in pairs])
            rng = np.random.default_rng(0)
            other = rng.permutation(len(pairs))
            between = np.mean(
                [np.linalg.norm(pairs[i][0] - pairs[j][0]) for i, j in enumerate(other) if i != j]
            )
            feature_gap = {"within": float(within), "between": float(between)}
        print(f"{dataset}: done ({time.time() - started:.0f} s)")

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "shortcut_control.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["set", "question", "probe", "auc", "auc_std", "paired", "n"]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "auc": f"{row['auc']:.4f}",
                    "auc_std": "" if row["auc_std"] is None else f"{row['auc_std']:.4f}",
                    "paired": "" if row["paired"] is None else f"{row['paired']:.4f}",
                }
            )
    lines = ["| set | classes | probe | AUC | paired |", "| --- | --- | --- | ---: | ---: |"]
    for row in rows:
        auc = f"{row['auc']:.3f}" + ("" if row["auc_std"] is None else f" ± {row['auc_std']:.3f}")
        paired = "—" if row["paired"] is None else f"{row['paired']:.3f}"
        lines.append(f"| {row['set']} | {row['n']} | {row['probe']} | {auc} | {paired} |")
    lines += [
        "",
        "AUC — scalars: max(AUC, 1 − AUC) over all images; probes: mean ± std of the "
        "held-out-fold AUC over 5 folds (FacesControl: both versions of an image in the same "
        "fold). Paired (FacesControl only): fraction of the 1,200 images whose twice-compressed "
        "version scores above the once-compressed one (scalars: either direction; probes: "
        "out-of-fold scores); 0.5 = no consistent difference.",
        "",
        f"Frozen-feature distance between the two versions of an image: "
        f"{feature_gap['within']:.3f} on average, against {feature_gap['between']:.3f} between two "
        f"different real images (Euclidean, 512-d).",
    ]
    (args.out / "shortcut_control.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out / 'shortcut_control.md'} and .csv in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
