"""``dfshield build-lmdb``: build a DeepfakeBench-format dataset (JSON + LMDB) from images or videos.

Sources (``--layout auto`` recognises them):

* **Image or video tree** — ``<root>/real/**`` and ``<root>/fake/**``. Each image is its own
  one-frame "video" (frame index ``000``); ``--group-images folder`` makes every folder of images
  one video instead (frames sorted by name; a purely numeric file stem is kept as the frame index),
  which is what you want for frames already extracted from videos, so that one video's frames never
  land in two splits. Video files in the tree are sampled like any other video.
* **Label CSV** — a ``.csv`` file with a header holding ``path`` and ``label`` (real/fake or 0/1)
  and optionally ``video`` (rows with the same value form one video) and ``group`` (videos kept in
  the same split). Relative paths are relative to the CSV's folder. Image and video files may mix.
* **FaceForensics++** — ``original_sequences/<source>/<cNN|raw>/videos/*.mp4`` (real) and
  ``manipulated_sequences/<method>/<cNN|raw>/videos/*.mp4`` (fake). Videos are named
  ``<source or method>_<id>``; a fake ``519_515`` and the reals ``519`` and ``515`` share one split
  group (identity leak guard). With several compression levels present, pick one (``--compression``).
* **DFDC** — folders with a ``metadata.json`` (``{"x.mp4": {"label": "REAL"|"FAKE", "original": ...}}``);
  a fake and its ``original`` share a split group. Files the metadata names but that are absent are
  reported as missing.

Videos: ``--frames`` (default 32) frames sampled evenly over the whole clip; the largest face found
by :class:`~dfshield.training.data.faces.FaceCropper` (Haar by default, MTCNN with
``--detector mtcnn``) is cut out at ``--scale`` 1.3 and resized to ``--size`` 256. Frames without a
face are counted and skipped, or kept as centre crops with ``--on-missing center``. Images are
assumed to be face crops already: centre square, resized to ``--size`` (``--size 0`` stores them
untouched); ``--detect-faces`` crops them like video frames.

``--reencode jpeg:Q`` passes every source image/frame of both classes through the same JPEG
encoder at quality Q before any cropping or resizing (so its 8×8 block grid lines up with any grid
already in the source), neutralising format shortcuts such as PNG reals vs JPEG fakes. Frames are
always stored as PNG. Pick Q at (or near) the quality of the most compressed class: re-encoding at a
higher quality leaves that class's coarser block traces in place. Measured on
``shared/data/faces-ffhq-stylegan2`` (PNG reals, JPEG-75 fakes; 400 + 400 images, 8/16-px
block-grid features + logistic regression, 5-fold AUC): untouched 0.997, ``jpeg:90`` 0.98,
``jpeg:75`` 0.74–0.78, ``jpeg:60`` 0.98; re-encoding *after* resizing instead stays at 0.98–0.99.
No re-encoding removes the shortcut completely (the fakes stay double-compressed): say so in reports.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import re
import shutil
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import cv2
import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, DataError
from dfshield.training.data.faces import DETECTORS, ON_MISSING, FaceCropper, center_crop
from dfshield.training.data.video import VIDEO_EXTENSIONS, sample_frame_indices, sample_frames
from dfshield.training.data.writer import (
    DEFAULT_FRACTIONS, BuildSummary, DatasetWriter, check_dataset_name, check_fractions, encode_png,
    normalize_label, parse_reencode, safe_video_name,
)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
LAYOUTS = ("auto", "tree", "csv", "ffpp", "dfdc")
GROUP_IMAGES = ("image", "folder")


# ---------------------------------------------------------------------------------------------
# discovery: what to build
# ---------------------------------------------------------------------------------------------
@dataclass
class SourceItem:
    """One video to write: a video file, or a list of image files forming a video."""

    name: str
    label: str
    kind: str  # "video" | "images"
    paths: list[Path]
    group: Any = None


@dataclass
class Discovery:
    items: list[SourceItem]
    layout: str
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _kind_of(path: Path) -> str | None:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "images"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def _name_from_parts(parts: Sequence[str]) -> str:
    return "__".join(safe_video_name(p) for p in parts if p) or "video"


class _Names:
    """Hands out unique safe video names per label (``x``, ``x-2``, ``x-3`` ...)."""

    def __init__(self) -> None:
        self.used: dict[str, set[str]] = defaultdict(set)

    def __call__(self, label: str, wanted: str) -> str:
        base = safe_video_name(wanted)
        name, k = base, 1
        while name in self.used[label]:
            k += 1
            name = f"{base}-{k}"
        self.used[label].add(name)
        return name


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _sorted_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")),
                  key=lambda p: p.as_posix())


def discover_tree(root: Path, group_images: str = "image") -> Discovery:
    """``root/real/**`` and ``root/fake/**``: images (one video each, or one per folder) and videos."""
    if group_images not in GROUP_IMAGES:
        raise ConfigError(f"Unknown --group-images {group_images!r}; use 'image' or 'folder'."
                          + did_you_mean(group_images, GROUP_IMAGES))
    class_dirs = {lab: root / lab for lab in ("real", "fake") if (root / lab).is_dir()}
    if not class_dirs:
        raise DataError(f"{root} has no 'real' or 'fake' folder. Put images or videos under {root}/real and "
                        f"{root}/fake, or pass a label CSV.")
    names = _Names()
    items: list[SourceItem] = []
    notes = []
    for label, folder in class_dirs.items():
        files = _sorted_files(folder)
        skipped = [p for p in files if _kind_of(p) is None]
        if skipped:
            notes.append(f"{len(skipped)} files under {folder} are neither images nor videos and were ignored "
                         f"(e.g. {skipped[0].name})")
        grouped: dict[str, list[Path]] = defaultdict(list)
        for path in files:
            kind = _kind_of(path)
            rel = path.relative_to(folder)
            if kind == "video":
                items.append(SourceItem(names(label, _name_from_parts(rel.with_suffix("").parts)), label,
                                        "video", [path]))
            elif kind == "images":
                if group_images == "folder" and len(rel.parts) > 1:
                    grouped[_name_from_parts(rel.parent.parts)].append(path)
                else:
                    items.append(SourceItem(names(label, _name_from_parts(rel.with_suffix("").parts)), label,
                                            "images", [path]))
        for video, paths in grouped.items():
            items.append(SourceItem(names(label, video), label, "images", paths))
    return Discovery(items, "tree", notes=notes)


def discover_csv(csv_path: Path) -> Discovery:
    """Label CSV: header with ``path``, ``label`` and optional ``video``, ``group`` columns."""
    if not csv_path.is_file():
        raise DataError(f"Label CSV {csv_path} does not exist.")
    base = csv_path.parent
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = {(h or "").strip().lower(): h for h in (reader.fieldnames or [])}
        if "path" not in header or "label" not in header:
            raise DataError(
                f"{csv_path} must start with a header naming the columns 'path' and 'label' "
                f"(optional: 'video', 'group'); found {list(reader.fieldnames or [])}."
            )
        rows = list(reader)
    names = _Names()
    items: list[SourceItem] = []
    missing, notes = [], []
    grouped: dict[tuple[str, str], list[Path]] = {}
    group_of: dict[tuple[str, str], Any] = {}
    for line, row in enumerate(rows, start=2):
        raw_path = (row.get(header["path"]) or "").strip()
        raw_label = (row.get(header["label"]) or "").strip()
        if not raw_path and not raw_label:
            continue
        try:
            label = normalize_label(raw_label)
        except DataError as exc:
            raise DataError(f"{csv_path}, line {line}: {exc}") from None
        path = Path(raw_path)
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            missing.append(str(path))
            continue
        kind = _kind_of(path)
        if kind is None:
            raise DataError(f"{csv_path}, line {line}: {raw_path} is neither an image "
                            f"({', '.join(sorted(IMAGE_EXTENSIONS))}) nor a video ({', '.join(sorted(VIDEO_EXTENSIONS))}).")
        video = (row.get(header["video"]) or "").strip() if "video" in header else ""
        group = (row.get(header["group"]) or "").strip() or None if "group" in header else None
        default_name = _name_from_parts(Path(raw_path).with_suffix("").parts[-3:])
        if kind == "video":
            items.append(SourceItem(names(label, video or default_name), label, "video", [path], group))
        elif video:
            grouped.setdefault((label, video), []).append(path)
            group_of.setdefault((label, video), group)
        else:
            items.append(SourceItem(names(label, default_name), label, "images", [path], group))
    for (label, video), paths in grouped.items():
        items.append(SourceItem(names(label, video), label, "images", sorted(paths, key=lambda p: p.as_posix()),
                                group_of[(label, video)]))
    return Discovery(items, "csv", missing=missing, notes=notes)


_FF_COMPRESSION = re.compile(r"^(c\d+|raw)$")
_FF_TOPS = ("original_sequences", "manipulated_sequences")


def find_ffpp_root(source: Path, max_depth: int = 3) -> Path | None:
    """The folder holding ``original_sequences``/``manipulated_sequences``: ``source`` itself, its
    parent (when given one of them) or the one folder below it (up to ``max_depth`` levels) that
    does; ``None`` when there is none. Several candidates are an error naming them."""
    if source.name in _FF_TOPS:
        return source.parent
    if any((source / top).is_dir() for top in _FF_TOPS):
        return source
    found: set[Path] = set()
    level = [source]
    for _ in range(max_depth):
        level = [p for folder in level for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        found.update(p.parent for p in level if p.name in _FF_TOPS)
        if found:
            break
    if len(found) > 1:
        raise DataError(f"{source} holds several FaceForensics++ trees ({', '.join(sorted(map(str, found)))}); "
                        "pass one of them.")
    return next(iter(found), None)


def discover_ffpp(root: Path, compression: str | None = None) -> Discovery:
    """FaceForensics++ folders: ``{original,manipulated}_sequences/<name>/<compression>/videos/*``."""
    root = find_ffpp_root(root) or root
    found: list[tuple[str, str, str, Path]] = []  # (label, subset, compression, path)
    for top, label in (("original_sequences", "real"), ("manipulated_sequences", "fake")):
        for subset_dir in sorted(p for p in (root / top).glob("*") if p.is_dir()):
            for comp_dir in sorted(p for p in subset_dir.glob("*") if p.is_dir() and _FF_COMPRESSION.match(p.name)):
                video_dir = comp_dir / "videos"
                for path in _sorted_files(video_dir) if video_dir.is_dir() else []:
                    if _kind_of(path) == "video":
                        found.append((label, subset_dir.name, comp_dir.name, path))
    if not found:
        raise DataError(f"No FaceForensics++ videos under {root}: expected "
                        "original_sequences/<source>/<c23|c40|raw>/videos/*.mp4 and/or "
                        "manipulated_sequences/<method>/<c23|c40|raw>/videos/*.mp4.")
    levels = sorted({c for _, _, c, _ in found})
    if compression is None:
        if len(levels) > 1:
            raise ConfigError(f"{root} holds several compression levels ({', '.join(levels)}); choose one "
                              f"with --compression, e.g. --compression {levels[0]}.")
        compression = levels[0]
    elif compression not in levels:
        raise ConfigError(f"Compression level {compression!r} not found under {root}; found {', '.join(levels)}."
                          + did_you_mean(compression, levels))
    names = _Names()
    uf = _UnionFind()
    items = []
    for label, subset, comp, path in found:
        if comp != compression:
            continue
        stem = path.stem
        item = SourceItem(names(label, f"{subset}_{stem}"), label, "video", [path])
        ids = re.fullmatch(r"(\d+)(?:_(\d+))?", stem)
        if ids:  # youtube-style ids: a fake a_b comes from the reals a and b
            ident = [i for i in ids.groups() if i]
            for other in ident[1:]:
                uf.union(ident[0], other)
            item.group = ident[0]
        items.append(item)
    for item in items:
        if item.group is not None:
            item.group = "ff:" + uf.find(item.group)
    return Discovery(items, "ffpp", notes=[f"FaceForensics++ compression level {compression}"])


def discover_dfdc(root: Path) -> Discovery:
    """DFDC parts: every ``metadata.json`` under ``root`` (searched recursively) and its videos."""
    metas = sorted(root.rglob("metadata.json"), key=lambda p: p.as_posix())
    if not metas:
        raise DataError(f"No DFDC metadata.json under {root}.")
    names = _Names()
    uf = _UnionFind()
    items, missing, notes = [], [], []
    for meta in metas:
        try:
            entries = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"Cannot read DFDC metadata {meta}: {exc}. Fix or remove the file.") from None
        if not isinstance(entries, dict):
            raise DataError(f"DFDC metadata {meta} is not a JSON object mapping file names to labels.")
        listed = set()
        for file_name in sorted(entries):
            info = entries[file_name]
            if not isinstance(info, dict) or "label" not in info:
                raise DataError(f"{meta}: entry {file_name!r} has no 'label' (expected REAL or FAKE).")
            try:
                label = normalize_label(info["label"])
            except DataError as exc:
                raise DataError(f"{meta}, entry {file_name!r}: {exc}") from None
            listed.add(file_name)
            path = meta.parent / file_name
            if not path.is_file():
                missing.append(str(path))
                continue
            stem = Path(file_name).stem
            original = info.get("original")
            if original:
                uf.union(stem, Path(str(original)).stem)
            items.append(SourceItem(names(label, stem), label, "video", [path], Path(file_name).stem))
        unlisted = [p.name for p in meta.parent.iterdir() if _kind_of(p) == "video" and p.name not in listed]
        if unlisted:
            notes.append(f"{len(unlisted)} videos in {meta.parent} are not in its metadata.json and were ignored")
    for item in items:
        item.group = "dfdc:" + uf.find(item.group)
    return Discovery(items, "dfdc", missing=missing, notes=notes)


def detect_layout(source: Path) -> str:
    """Which layout ``source`` has (``tree``, ``csv``, ``ffpp`` or ``dfdc``); error when unclear."""
    if source.is_file():
        if source.suffix.lower() == ".csv":
            return "csv"
        raise DataError(f"{source} is a file but not a label CSV (.csv). Pass a folder or a CSV.")
    if not source.is_dir():
        raise DataError(f"Source {source} does not exist.")
    if (source / "real").is_dir() or (source / "fake").is_dir():
        return "tree"
    candidates = []
    if find_ffpp_root(source) is not None:
        candidates.append("ffpp")
    if next(iter(source.rglob("metadata.json")), None) is not None:
        candidates.append("dfdc")
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise DataError(f"{source} looks like both {' and '.join(candidates)}; choose with --layout.")
    raise DataError(
        f"Cannot tell what {source} holds. Supported: an image/video tree with real/ and fake/ folders, "
        "a label CSV (path,label), FaceForensics++ (original_sequences/, manipulated_sequences/) or DFDC "
        "(folders with metadata.json). Choose with --layout."
    )


def discover(source: str | Path, layout: str = "auto", *, group_images: str = "image",
             compression: str | None = None) -> Discovery:
    """Find what to build from ``source`` in the given (or detected) layout."""
    source = Path(source)
    if layout not in LAYOUTS:
        raise ConfigError(f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}." + did_you_mean(layout, LAYOUTS))
    if not source.exists():
        raise DataError(f"Source {source} does not exist.")
    layout = detect_layout(source) if layout == "auto" else layout
    if layout == "tree":
        found = discover_tree(source, group_images)
    elif layout == "csv":
        found = discover_csv(source)
    elif layout == "ffpp":
        found = discover_ffpp(source, compression)
    else:
        found = discover_dfdc(source)
    if not found.items:
        hint = f" ({len(found.missing)} listed files are missing)" if found.missing else ""
        raise DataError(
            f"No images or videos found in {source} (layout {layout}){hint}. Images: "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}; videos: {', '.join(sorted(VIDEO_EXTENSIONS))}."
        )
    return found


# ---------------------------------------------------------------------------------------------
# processing one item (runs in worker processes when workers > 1)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessOptions:
    frames: int = 32
    detector: str = "haar"
    scale: float = 1.3
    size: int = 256
    on_missing: str = "skip"
    detect_faces_in_images: bool = False
    reencode: str | None = None
    device: str | None = None


@dataclass
class ItemResult:
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    faces_not_found: int = 0
    center_cropped: int = 0
    skipped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


_CROPPERS: dict[ProcessOptions, FaceCropper] = {}


def _cropper(options: ProcessOptions) -> FaceCropper:
    if options not in _CROPPERS:
        _CROPPERS[options] = FaceCropper(options.detector, options.scale, options.size, options.on_missing,
                                         device=options.device)
    return _CROPPERS[options]


def _read_image(path: Path) -> np.ndarray:
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if bgr is None:
        raise DataError(f"cannot decode image {path} (corrupt or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _frame_index(paths: Sequence[Path], position: int) -> int:
    stems = [p.stem for p in paths]
    if all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return int(paths[position].stem)
    return position


def process_item(item: SourceItem, options: ProcessOptions) -> ItemResult:
    """Decode, (re-encode), crop and PNG-encode the frames of one item. Never raises for bad data:
    problems are returned in ``errors``."""
    result = ItemResult()
    reencoder = parse_reencode(options.reencode)
    use_faces = item.kind == "video" or options.detect_faces_in_images
    frames: Iterable[tuple[int, np.ndarray]]
    try:
        if item.kind == "video":
            frames, _ = sample_frames(item.paths[0], options.frames)
        else:
            paths = item.paths
            chosen = sample_frame_indices(len(paths), options.frames) if len(paths) > 1 else [0]

            def image_frames() -> Iterator[tuple[int, np.ndarray]]:
                for pos in chosen:
                    try:
                        yield _frame_index(paths, pos), _read_image(paths[pos])
                    except DataError as exc:
                        result.errors.append((str(paths[pos]), str(exc)))

            frames = image_frames()
        for index, rgb in frames:
            if reencoder is not None:
                rgb = reencoder(rgb)
            if use_faces:
                crop, found = _cropper(options).crop(rgb)
                if not found:
                    result.faces_not_found += 1
                    if crop is None:
                        result.skipped += 1
                        continue
                    result.center_cropped += 1
            else:
                crop = center_crop(rgb, options.size) if options.size else rgb
            result.frames.append((index, encode_png(crop)))
    except DataError as exc:
        result.errors.append((str(item.paths[0]), str(exc)))
    except cv2.error as exc:  # pragma: no cover - decoder failure modes vary
        result.errors.append((str(item.paths[0]), f"OpenCV error: {exc}"))
    return result


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _process_star(args: tuple[SourceItem, ProcessOptions]) -> ItemResult:
    return process_item(*args)


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def build_dataset(
    source: str | Path,
    out_dir: str | Path,
    name: str,
    *,
    layout: str = "auto",
    kind: str | None = None,
    frames: int = 32,
    detector: str = "haar",
    scale: float = 1.3,
    size: int = 256,
    on_missing: str = "skip",
    detect_faces: bool = False,
    group_images: str = "image",
    compression: str | None = None,
    reencode: str | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    overwrite: bool = False,
    workers: int = 1,
    device: str | None = None,
    progress: bool = False,
) -> BuildSummary:
    """Build ``<out_dir>/json/<name>.json`` and ``<out_dir>/lmdb/<name>_lmdb`` from ``source``.

    See the module docstring for layouts and options. ``kind`` (``"images"``/``"video"``) restricts
    the inputs to one kind. Unreadable inputs and frames without a face are reported in the
    returned :class:`BuildSummary`, not raised; a build that writes nothing raises :class:`DataError`.
    """
    name = check_dataset_name(name)
    fractions = check_fractions(fractions)
    if int(frames) < 1:
        raise ConfigError(f"--frames must be at least 1, got {frames}.")
    if int(size) < 0:
        raise ConfigError(f"--size must be >= 0 (0 keeps images as they are), got {size}.")
    reencoder = parse_reencode(reencode)  # validate early
    # Validate the face options (and the detector's availability) before touching the output.
    FaceCropper(detector, scale, size, on_missing)
    options = ProcessOptions(int(frames), detector, float(scale), int(size), on_missing, bool(detect_faces),
                             str(reencoder) if reencoder else None, device)

    found = discover(source, layout, group_images=group_images, compression=compression)
    items = found.items
    if kind is not None:
        wrong = [it for it in items if it.kind != kind]
        if wrong:
            other = "build_from_videos" if kind == "images" else "build_from_images"
            raise DataError(f"{source} contains {len(wrong)} {wrong[0].kind} inputs (e.g. {wrong[0].paths[0]}); "
                            f"use {other} or build_dataset for them.")
    if any(it.kind == "video" for it in items) or detect_faces:
        _cropper(options)._load()  # fail fast if the detector is unavailable

    from tqdm.auto import tqdm

    summary_failed: list[tuple[str, str]] = []
    videos_empty: list[str] = []
    faces_not_found = center_cropped = skipped = 0
    workers = max(1, int(workers))
    executor = None
    if workers > 1 and len(items) > 1:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init)
    writer = DatasetWriter(out_dir, name, overwrite=overwrite)
    try:
        if executor is not None:
            results: Iterable[ItemResult] = executor.map(_process_star, ((it, options) for it in items), chunksize=1)
        else:
            results = (process_item(it, options) for it in items)
        bar = tqdm(total=len(items), desc=f"build {name}", unit="video", disable=not progress, file=sys.stderr)
        with bar:
            for item, result in zip(items, results):
                faces_not_found += result.faces_not_found
                center_cropped += result.center_cropped
                skipped += result.skipped
                summary_failed.extend(result.errors)
                written = writer.add_video(item.name, item.label, result.frames, group=item.group)
                if written == 0 and not (result.errors and len(result.errors) >= len(item.paths)):
                    videos_empty.append(f"{item.label}/{item.name}")
                bar.update(1)
                if faces_not_found or summary_failed:
                    bar.set_postfix(no_face=faces_not_found, failed=len(summary_failed), refresh=False)
        if writer.video_count == 0:
            writer.abort()
            _remove_outputs(writer)
            reasons = []
            if skipped:
                reasons.append(f"no face was found in {skipped} frames (try --on-missing center or --detector mtcnn)")
            if summary_failed:
                reasons.append(f"{len(summary_failed)} inputs could not be read, e.g. {summary_failed[0][0]}: "
                               f"{summary_failed[0][1]}")
            raise DataError(f"Nothing was written for {source}: " + ("; ".join(reasons) or "no usable frame") + ".")
        summary = writer.close(fractions, seed)
    except BaseException:
        writer.abort()
        raise
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    summary.faces_not_found = faces_not_found
    summary.frames_center_cropped = center_cropped
    summary.frames_skipped = skipped
    summary.videos_empty = videos_empty
    summary.failed = summary_failed
    summary.missing = list(found.missing)
    summary.notes = list(found.notes) + ([f"re-encoded every source image as {reencoder}"] if reencoder else [])
    return summary


def _remove_outputs(writer: DatasetWriter) -> None:
    shutil.rmtree(writer.lmdb_path, ignore_errors=True)
    if writer.json_path.exists():
        writer.json_path.unlink()


def build_from_images(source: str | Path, out_dir: str | Path, name: str, **options: Any) -> BuildSummary:
    """Build from an image tree (``real/``, ``fake/``) or a label CSV of images. Each image is a
    one-frame video unless ``group_images="folder"`` or a CSV ``video`` column groups them.
    Options as :func:`build_dataset` (``size``, ``detect_faces``, ``reencode``, ``fractions``, ``seed`` ...)."""
    return build_dataset(source, out_dir, name, kind="images", **options)


def build_from_videos(source: str | Path, out_dir: str | Path, name: str, **options: Any) -> BuildSummary:
    """Build from videos: FaceForensics++ folders, DFDC ``metadata.json`` folders, a ``real/``/``fake/``
    tree or a label CSV. Options as :func:`build_dataset` (``frames``, ``detector``, ``scale``, ``size``,
    ``on_missing``, ``compression``, ``reencode``, ``fractions``, ``seed``, ``workers`` ...)."""
    return build_dataset(source, out_dir, name, kind="video", **options)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def _fractions_arg(text: str) -> tuple[float, float, float]:
    try:
        return check_fractions([float(x) for x in text.replace(":", ",").split(",")])
    except (ValueError, ConfigError) as exc:
        raise argparse.ArgumentTypeError(f"expected train,val,test fractions such as 0.7,0.15,0.15 ({exc})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dfshield build-lmdb``."""
    parser.description = ("Build a DeepfakeBench-format dataset (JSON + LMDB of PNG face crops) from an image "
                          "tree, a video tree (FaceForensics++, DFDC) or a label CSV.")
    parser.add_argument("source", help="folder with real/ and fake/, FaceForensics++ or DFDC folder, or a label CSV")
    parser.add_argument("out", help="output folder; writes json/<NAME>.json and lmdb/<NAME>_lmdb")
    parser.add_argument("--name", required=True, help="dataset name (label strings become NAME_real / NAME_fake)")
    parser.add_argument("--layout", choices=LAYOUTS, default="auto", help="source layout (default: detect)")
    parser.add_argument("--frames", type=int, default=32, help="frames sampled evenly per video (default 32)")
    parser.add_argument("--detector", choices=DETECTORS, default="haar",
                        help="face detector: haar (OpenCV, default) or mtcnn (needs facenet-pytorch)")
    parser.add_argument("--device", default=None, help="device for MTCNN, e.g. cuda:0")
    parser.add_argument("--scale", type=float, default=1.3, help="face box enlargement (default 1.3)")
    parser.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256; 0 keeps each crop or image at its own size, "
                             "which lets sizes differ between classes)")
    parser.add_argument("--on-missing", choices=ON_MISSING, default="skip",
                        help="frames without a face: skip (default) or use a centre crop")
    parser.add_argument("--detect-faces", action="store_true",
                        help="also detect and crop faces in still images (default: images are face crops already)")
    parser.add_argument("--group-images", choices=GROUP_IMAGES, default="image",
                        help="image tree: each image its own video (default) or one video per folder")
    parser.add_argument("--compression", default=None, help="FaceForensics++ level to use (c23, c40, raw)")
    parser.add_argument("--split", type=_fractions_arg, default=DEFAULT_FRACTIONS, metavar="TRAIN,VAL,TEST",
                        help="split fractions by video, stratified (default 0.7,0.15,0.15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--reencode", default=None, metavar="jpeg:Q",
                        help="re-encode every source image of both classes as JPEG quality Q first")
    parser.add_argument("--workers", type=int, default=1, help="processes decoding and cropping (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset of that name")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when any input failed, was missing or had no face")


def run(args: argparse.Namespace) -> int:
    """Run ``dfshield build-lmdb``; prints the summary. Returns 0, or 1 with --strict and problems."""
    summary = build_dataset(
        args.source, args.out, args.name, layout=args.layout, frames=args.frames, detector=args.detector,
        scale=args.scale, size=args.size, on_missing=args.on_missing, detect_faces=args.detect_faces,
        group_images=args.group_images, compression=args.compression, reencode=args.reencode,
        fractions=args.split, seed=args.seed, overwrite=args.overwrite, workers=args.workers,
        device=args.device, progress=not args.no_progress,
    )
    print(summary.format())
    problems = summary.failed or summary.missing or summary.faces_not_found or summary.videos_empty
    return 1 if (args.strict and problems) else 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - convenience entry point
    parser = argparse.ArgumentParser(prog="dfshield build-lmdb")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
