"""Building a DeepfakeBench-format dataset (JSON + LMDB) from images or videos (``build-lmdb``).

Sources (``--layout auto``; found by :mod:`.sources`): a ``real/`` + ``fake/`` tree (an image a
one-frame video, or ``--group-images folder``: a folder a video, keeping extracted frames in one
split); a CSV of ``path``, ``label`` [, ``video``, ``group``]; FaceForensics++ (a fake shares a
split group with its sources; one ``--compression``); DFDC ``metadata.json`` folders (a fake with
its ``original``). Items go through the ``predict`` media pipeline: videos give face crops,
images are taken as crops unless ``--detect-faces``. ``--reencode jpeg:Q`` weakens, never
removes, a format shortcut (docs/experiments.md §1). The result is swapped in complete.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from dfshield.dataset_builder.build_summary import BuildSummary
from dfshield.dataset_builder.dataset_writer import DatasetWriter
from dfshield.dataset_builder.frame_encoding import encode_png, parse_reencode
from dfshield.dataset_builder.layout import check_dataset_name
from dfshield.dataset_builder.sources import SourceItem, discover
from dfshield.dataset_builder.split_allocation import DEFAULT_FRACTIONS, check_fractions
from dfshield.errors import DataError
from dfshield.media.pipeline import (
    DEFAULT_MAX_PIXELS,
    MediaOptions,
    MediaStream,
    face_cropper,
    map_in_workers,
)
from dfshield.progress import progress_bar


# ---------------------------------------------------------------------------------------------
# processing one item (runs in worker processes when workers > 1)
# ---------------------------------------------------------------------------------------------
@dataclass
class ItemResult:
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    faces_not_found: int = 0
    center_cropped: int = 0
    skipped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def process_item(item: SourceItem, options: MediaOptions) -> ItemResult:
    """Read one item through the media pipeline and PNG-encode each frame in the worker as it
    arrives (only PNG bytes kept); never raises for bad data (problems in ``errors``)."""
    media = MediaStream(item.paths, options)
    result = ItemResult()
    for frame in media:
        if frame is None:  # a truncated video, sampled again over the frames that decode
            result = ItemResult()
            continue
        result.faces_not_found += frame.face_found is False
        if frame.rgb is None:  # no face, on_missing="skip"
            result.skipped += 1
            continue
        result.center_cropped += frame.face_found is False
        result.frames.append((frame.index, encode_png(frame.rgb)))
    result.errors = media.errors
    return result


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
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = False,
) -> BuildSummary:
    """Build ``<out_dir>/json/<name>.json`` and ``lmdb/<name>_lmdb`` from ``source``; bad inputs go
    to the returned :class:`BuildSummary`, and a build that writes nothing raises DataError."""
    name = check_dataset_name(name)
    fractions = check_fractions(fractions)
    reencoder = parse_reencode(reencode)
    options = MediaOptions(
        int(frames),
        image_framing="face" if detect_faces else "center",
        video_framing="face",
        detector=detector,
        scale=float(scale),
        size=int(size),
        on_missing=on_missing,
        device=device,
        transform=reencoder,
        max_pixels=max_pixels,
    )  # checks frames, size and the face options before the output is touched

    found = discover(source, layout, group_images=group_images, compression=compression)
    items = found.items
    if kind is not None:
        wrong = [it for it in items if it.kind != kind]
        if wrong:
            other = "build_from_videos" if kind == "images" else "build_from_images"
            raise DataError(
                f"{source} contains {len(wrong)} {wrong[0].kind} inputs "
                f"(e.g. {wrong[0].paths[0]}); "
                f"use {other} or build_dataset for them."
            )
    if any(it.kind == "video" for it in items) or detect_faces:
        face_cropper(options).load()  # fail fast if the detector is unavailable

    summary_failed: list[tuple[str, str]] = []
    videos_empty: list[str] = []
    faces_not_found = center_cropped = skipped = 0
    pool_size = int(workers) if int(workers) > 1 and len(items) > 1 else 0
    writer = DatasetWriter(out_dir, name, overwrite=overwrite)
    results = map_in_workers(partial(process_item, options=options), items, pool_size)
    try:
        bar = progress_bar(
            total=len(items), enabled=progress, desc=f"build {name}", unit="video", file=sys.stderr
        )
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
                    bar.set_postfix(
                        no_face=faces_not_found, failed=len(summary_failed), refresh=False
                    )
        if writer.video_count == 0:
            writer.abort()
            reasons = []
            if skipped:
                reasons.append(
                    f"no face was found in {skipped} frames "
                    "(try --on-missing center or --detector mtcnn)"
                )
            if summary_failed:
                reasons.append(
                    f"{len(summary_failed)} inputs could not be read, e.g. {summary_failed[0][0]}: "
                    f"{summary_failed[0][1]}"
                )
            raise DataError(
                f"Nothing was written for {source}: "
                + ("; ".join(reasons) or "no usable frame")
                + "."
            )
        summary = writer.close(fractions, seed)
    except BaseException:
        writer.abort()
        raise
    finally:
        results.close()  # stops the worker processes
    summary.faces_not_found = faces_not_found
    summary.frames_center_cropped = center_cropped
    summary.frames_skipped = skipped
    summary.videos_empty = videos_empty
    summary.failed = summary_failed
    summary.missing = list(found.missing)
    summary.notes = list(found.notes) + (
        [f"re-encoded every source image as {reencoder}"] if reencoder else []
    )
    return summary


def build_from_images(
    source: str | Path, out_dir: str | Path, name: str, **options: Any
) -> BuildSummary:
    """Build from an image tree or a label CSV of images; options as :func:`build_dataset`."""
    return build_dataset(source, out_dir, name, kind="images", **options)


def build_from_videos(
    source: str | Path, out_dir: str | Path, name: str, **options: Any
) -> BuildSummary:
    """Build from FaceForensics++, DFDC, a tree or a video CSV; options as in ``build_dataset``."""
    return build_dataset(source, out_dir, name, kind="video", **options)
