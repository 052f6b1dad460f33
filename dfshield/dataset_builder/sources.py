r"""Finding what ``build-lmdb`` builds: labelled videos and images of a source folder.

Layouts (see :mod:`.builder`): tree, CSV, FaceForensics++, DFDC; each yields ``SourceItem``\ s.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfshield._suggest import did_you_mean
from dfshield.dataset_builder.layout import normalize_label, safe_video_name
from dfshield.errors import ConfigError, DataError
from dfshield.media.pipeline import IMAGE_EXTENSIONS, media_kind
from dfshield.media.video import VIDEO_EXTENSIONS

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
    return sorted(
        (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.as_posix(),
    )


def discover_tree(root: Path, group_images: str = "image") -> Discovery:
    """``root/real/**`` and ``root/fake/**``: images (a video each or per folder) and videos."""
    if group_images not in GROUP_IMAGES:
        raise ConfigError(
            f"Unknown --group-images {group_images!r}; use 'image' or 'folder'."
            + did_you_mean(group_images, GROUP_IMAGES)
        )
    class_dirs = {lab: root / lab for lab in ("real", "fake") if (root / lab).is_dir()}
    if not class_dirs:
        raise DataError(
            f"{root} has no 'real' or 'fake' folder. Put images or videos under {root}/real and "
            f"{root}/fake, or pass a label CSV."
        )
    names = _Names()
    items: list[SourceItem] = []
    notes = []
    for label, folder in class_dirs.items():
        files = _sorted_files(folder)
        skipped = [p for p in files if media_kind(p) is None]
        if skipped:
            notes.append(
                f"{len(skipped)} files under {folder} are neither images nor videos and were "
                f"ignored (e.g. {skipped[0].name})"
            )
        grouped: dict[str, list[Path]] = defaultdict(list)
        for path in files:
            kind = media_kind(path)
            rel = path.relative_to(folder)
            if kind == "video":
                items.append(
                    SourceItem(
                        names(label, _name_from_parts(rel.with_suffix("").parts)),
                        label,
                        "video",
                        [path],
                    )
                )
            elif kind == "image":
                if group_images == "folder" and len(rel.parts) > 1:
                    grouped[_name_from_parts(rel.parent.parts)].append(path)
                else:
                    items.append(
                        SourceItem(
                            names(label, _name_from_parts(rel.with_suffix("").parts)),
                            label,
                            "images",
                            [path],
                        )
                    )
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
    missing: list[str] = []
    notes: list[str] = []
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
        kind = media_kind(path)
        if kind is None:
            raise DataError(
                f"{csv_path}, line {line}: {raw_path} is neither an image "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}) nor a video "
                f"({', '.join(sorted(VIDEO_EXTENSIONS))})."
            )
        video = (row.get(header["video"]) or "").strip() if "video" in header else ""
        group = (row.get(header["group"]) or "").strip() or None if "group" in header else None
        default_name = _name_from_parts(Path(raw_path).with_suffix("").parts[-3:])
        if kind == "video":
            items.append(
                SourceItem(names(label, video or default_name), label, "video", [path], group)
            )
        elif video:
            grouped.setdefault((label, video), []).append(path)
            group_of.setdefault((label, video), group)
        else:
            items.append(SourceItem(names(label, default_name), label, "images", [path], group))
    for (label, video), paths in grouped.items():
        items.append(
            SourceItem(
                names(label, video),
                label,
                "images",
                sorted(paths, key=lambda p: p.as_posix()),
                group_of[(label, video)],
            )
        )
    return Discovery(items, "csv", missing=missing, notes=notes)


_FF_COMPRESSION = re.compile(r"^(c\d+|raw)$")
_FF_TOPS = ("original_sequences", "manipulated_sequences")


def find_ffpp_root(source: Path, max_depth: int = 3) -> Path | None:
    """The folder holding ``original_sequences``/``manipulated_sequences`` (``source``, its parent
    or one below), or None; several is an error."""
    if source.name in _FF_TOPS:
        return source.parent
    if any((source / top).is_dir() for top in _FF_TOPS):
        return source
    found: set[Path] = set()
    level = [source]
    for _ in range(max_depth):
        level = [
            p
            for folder in level
            for p in sorted(folder.iterdir())
            if p.is_dir() and not p.name.startswith(".")
        ]
        found.update(p.parent for p in level if p.name in _FF_TOPS)
        if found:
            break
    if len(found) > 1:
        raise DataError(
            f"{source} holds several FaceForensics++ trees ({', '.join(sorted(map(str, found)))}); "
            "pass one of them."
        )
    return next(iter(found), None)


def discover_ffpp(root: Path, compression: str | None = None) -> Discovery:
    """FaceForensics++: ``{original,manipulated}_sequences/<name>/<compression>/videos/*``."""
    root = find_ffpp_root(root) or root
    found: list[tuple[str, str, str, Path]] = []  # (label, subset, compression, path)
    for top, label in (("original_sequences", "real"), ("manipulated_sequences", "fake")):
        for subset_dir in sorted(p for p in (root / top).glob("*") if p.is_dir()):
            for comp_dir in sorted(
                p for p in subset_dir.glob("*") if p.is_dir() and _FF_COMPRESSION.match(p.name)
            ):
                video_dir = comp_dir / "videos"
                for path in _sorted_files(video_dir) if video_dir.is_dir() else []:
                    if media_kind(path) == "video":
                        found.append((label, subset_dir.name, comp_dir.name, path))
    if not found:
        raise DataError(
            f"No FaceForensics++ videos under {root}: expected "
            "original_sequences/<source>/<c23|c40|raw>/videos/*.mp4 and/or "
            "manipulated_sequences/<method>/<c23|c40|raw>/videos/*.mp4."
        )
    levels = sorted({c for _, _, c, _ in found})
    if compression is None:
        if len(levels) > 1:
            raise ConfigError(
                f"{root} holds several compression levels ({', '.join(levels)}); choose one "
                f"with --compression, e.g. --compression {levels[0]}."
            )
        compression = levels[0]
    elif compression not in levels:
        raise ConfigError(
            f"Compression level {compression!r} not found under {root}; found {', '.join(levels)}."
            + did_you_mean(compression, levels)
        )
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
            raise DataError(
                f"Cannot read DFDC metadata {meta}: {exc}. Fix or remove the file."
            ) from None
        if not isinstance(entries, dict):
            raise DataError(
                f"DFDC metadata {meta} is not a JSON object mapping file names to labels."
            )
        listed = set()
        for file_name in sorted(entries):
            info = entries[file_name]
            if not isinstance(info, dict) or "label" not in info:
                raise DataError(
                    f"{meta}: entry {file_name!r} has no 'label' (expected REAL or FAKE)."
                )
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
            items.append(
                SourceItem(names(label, stem), label, "video", [path], Path(file_name).stem)
            )
        unlisted = [
            p.name
            for p in meta.parent.iterdir()
            if media_kind(p) == "video" and p.name not in listed
        ]
        if unlisted:
            notes.append(
                f"{len(unlisted)} videos in {meta.parent} are not in its metadata.json and were "
                "ignored"
            )
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
        raise DataError(
            f"{source} looks like both {' and '.join(candidates)}; choose with --layout."
        )
    raise DataError(
        f"Cannot tell what {source} holds. Supported: an image/video tree with real/ and fake/ "
        "folders, a label CSV (path,label), FaceForensics++ (original_sequences/, "
        "manipulated_sequences/) or DFDC (folders with metadata.json). Choose with --layout."
    )


def discover(
    source: str | Path,
    layout: str = "auto",
    *,
    group_images: str = "image",
    compression: str | None = None,
) -> Discovery:
    """Find what to build from ``source`` in the given (or detected) layout."""
    source = Path(source)
    if layout not in LAYOUTS:
        raise ConfigError(
            f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}."
            + did_you_mean(layout, LAYOUTS)
        )
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
