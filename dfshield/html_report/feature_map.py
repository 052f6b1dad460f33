"""A 2-D map of feature banks: t-SNE for a small bank, PCA for a large one (docs/report.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TSNE_MAX_ROWS = 20000
TSNE_SAMPLE_ROWS = 800
PCA_SAMPLE_ROWS = 5000
SEED = 0
METHODS = ("auto", "tsne", "pca", "none")


@dataclass
class FeatureMap:
    """2-D points of sampled bank rows with their class (1 = fake) and dataset."""

    points: np.ndarray
    classes: np.ndarray
    datasets: list[str]
    method: str
    total_rows: int
    seed: int

    @property
    def caption(self) -> str:
        shown = len(self.classes)
        sample = (
            f"all {shown} rows"
            if shown == self.total_rows
            else f"{shown} of {self.total_rows} rows sampled at random (seed {self.seed})"
        )
        how = "t-SNE (scikit-learn, 500 iterations)" if self.method == "tsne" else "PCA"
        return f"{how} of the frozen backbone's features: {sample}."


def _json_sources(meta: dict) -> list[Path]:
    return [
        Path(s[len("json:") :].rsplit(":", 2)[0])
        for s in (meta.get("identity") or {}).get("sources", [])
        if isinstance(s, str) and s.startswith("json:")
    ]


def _split_of(json_path: Path, video_ids: list[str]) -> str | None:
    """The split of the dataset JSON whose videos the bank's first rows come from, or None."""
    try:
        index = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted = {str(v).replace("\\", "/") for v in video_ids[:50]}
    for labels in index.values() if isinstance(index, dict) else []:
        for splits in labels.values() if isinstance(labels, dict) else []:
            for split, videos in splits.items() if isinstance(splits, dict) else []:
                for video in videos.values() if isinstance(videos, dict) else []:
                    frames = video.get("frames") if isinstance(video, dict) else None
                    if frames and str(Path(frames[0].replace("\\", "/")).parent) in wanted:
                        return str(split)
    return None


def _dataset_of(meta: dict, folder: Path) -> str:
    """The bank's dataset names, with its split when the dataset JSON tells it."""
    sources = _json_sources(meta)
    names = ", ".join(path.stem for path in sources) or folder.name[:8]
    split = _split_of(sources[0], meta.get("video_ids") or []) if len(sources) == 1 else None
    return f"{names} ({split})" if split else names


def feature_points(banks: list[Path], method: str = "auto", seed: int = SEED) -> FeatureMap | None:
    """Sampled bank rows projected to 2-D; None without a readable bank or 5 rows."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    datasets: list[str] = []
    total = 0
    for folder in banks:
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            features = np.load(folder / "features.npy", mmap_mode="r")
        except (OSError, ValueError):
            continue
        if features.ndim != 2 or len(meta.get("labels", [])) != len(features):
            continue
        parts.append((features, np.asarray(meta["labels"], dtype=np.int64)))
        datasets.append(_dataset_of(meta, folder))
        total += len(features)
    if total < 5 or method == "none":
        return None
    if method == "auto":
        method = "tsne" if total <= TSNE_MAX_ROWS else "pca"
    limit = TSNE_SAMPLE_ROWS if method == "tsne" else PCA_SAMPLE_ROWS
    rng = np.random.default_rng(seed)
    chosen_rows, names = [], []
    for (features, labels), dataset in zip(parts, datasets):
        share = len(features) if total <= limit else max(1, round(limit * len(features) / total))
        index = np.sort(rng.choice(len(features), size=min(share, len(features)), replace=False))
        chosen_rows.append((np.asarray(features[index], dtype=np.float32), labels[index]))
        names += [dataset] * len(index)
    rows = np.concatenate([r for r, _ in chosen_rows])
    classes = np.concatenate([c for _, c in chosen_rows])
    return FeatureMap(_project(rows, method, seed), classes, names, method, total, seed)


def _project(rows: np.ndarray, method: str, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    if method == "pca" or len(rows) < 10:
        return PCA(n_components=2, random_state=seed).fit_transform(rows)
    from sklearn.manifold import TSNE

    if rows.shape[1] > 50:
        rows = PCA(n_components=50, random_state=seed).fit_transform(rows)
    perplexity = min(30.0, (len(rows) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed)
    return tsne.fit_transform(rows)
