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
by :class:`~dfshield.media.faces.FaceCropper` (Haar by default, MTCNN with
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
import multiprocessing
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfshield.datasets.sources import GROUP_IMAGES, LAYOUTS, SourceItem, discover
from dfshield.datasets.writer import (
    DEFAULT_FRACTIONS,
    BuildSummary,
    DatasetWriter,
    check_dataset_name,
    check_fractions,
    encode_png,
    parse_reencode,
)
from dfshield.errors import ConfigError, DataError
from dfshield.media.faces import DETECTORS, ON_MISSING, FaceCropper, center_crop
from dfshield.media.video import sample_frame_indices, sample_frames


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
        _CROPPERS[options] = FaceCropper(
            options.detector, options.scale, options.size, options.on_missing, device=options.device
        )
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
    options = ProcessOptions(
        int(frames),
        detector,
        float(scale),
        int(size),
        on_missing,
        bool(detect_faces),
        str(reencoder) if reencoder else None,
        device,
    )

    found = discover(source, layout, group_images=group_images, compression=compression)
    items = found.items
    if kind is not None:
        wrong = [it for it in items if it.kind != kind]
        if wrong:
            other = "build_from_videos" if kind == "images" else "build_from_images"
            raise DataError(
                f"{source} contains {len(wrong)} {wrong[0].kind} inputs (e.g. {wrong[0].paths[0]}); "
                f"use {other} or build_dataset for them."
            )
    if any(it.kind == "video" for it in items) or detect_faces:
        _cropper(options)._load()  # fail fast if the detector is unavailable

    from tqdm.auto import tqdm

    summary_failed: list[tuple[str, str]] = []
    videos_empty: list[str] = []
    faces_not_found = center_cropped = skipped = 0
    workers = max(1, int(workers))
    executor = None
    if workers > 1 and len(items) > 1:
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )
    writer = DatasetWriter(out_dir, name, overwrite=overwrite)
    try:
        if executor is not None:
            results: Iterable[ItemResult] = executor.map(
                _process_star, ((it, options) for it in items), chunksize=1
            )
        else:
            results = (process_item(it, options) for it in items)
        bar = tqdm(
            total=len(items),
            desc=f"build {name}",
            unit="video",
            disable=not progress,
            file=sys.stderr,
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
            _remove_outputs(writer)
            reasons = []
            if skipped:
                reasons.append(
                    f"no face was found in {skipped} frames (try --on-missing center or --detector mtcnn)"
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
        if executor is not None:
            executor.shutdown(cancel_futures=True)
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


def _remove_outputs(writer: DatasetWriter) -> None:
    shutil.rmtree(writer.lmdb_path, ignore_errors=True)
    if writer.json_path.exists():
        writer.json_path.unlink()


def build_from_images(
    source: str | Path, out_dir: str | Path, name: str, **options: Any
) -> BuildSummary:
    """Build from an image tree (``real/``, ``fake/``) or a label CSV of images. Each image is a
    one-frame video unless ``group_images="folder"`` or a CSV ``video`` column groups them.
    Options as :func:`build_dataset` (``size``, ``detect_faces``, ``reencode``, ``fractions``, ``seed`` ...)."""
    return build_dataset(source, out_dir, name, kind="images", **options)


def build_from_videos(
    source: str | Path, out_dir: str | Path, name: str, **options: Any
) -> BuildSummary:
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
        raise argparse.ArgumentTypeError(
            f"expected train,val,test fractions such as 0.7,0.15,0.15 ({exc})"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dfshield build-lmdb``."""
    parser.description = (
        "Build a DeepfakeBench-format dataset (JSON + LMDB of PNG face crops) from an image "
        "tree, a video tree (FaceForensics++, DFDC) or a label CSV."
    )
    parser.add_argument(
        "source", help="folder with real/ and fake/, FaceForensics++ or DFDC folder, or a label CSV"
    )
    parser.add_argument("out", help="output folder; writes json/<NAME>.json and lmdb/<NAME>_lmdb")
    parser.add_argument(
        "--name", required=True, help="dataset name (label strings become NAME_real / NAME_fake)"
    )
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="auto", help="source layout (default: detect)"
    )
    parser.add_argument(
        "--frames", type=int, default=32, help="frames sampled evenly per video (default 32)"
    )
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default="haar",
        help="face detector: haar (OpenCV, default) or mtcnn (needs facenet-pytorch)",
    )
    parser.add_argument("--device", default=None, help="device for MTCNN, e.g. cuda:0")
    parser.add_argument(
        "--scale", type=float, default=1.3, help="face box enlargement (default 1.3)"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=256,
        help="crop size in pixels (default 256; 0 keeps each crop or image at its own size, "
        "which lets sizes differ between classes)",
    )
    parser.add_argument(
        "--on-missing",
        choices=ON_MISSING,
        default="skip",
        help="frames without a face: skip (default) or use a centre crop",
    )
    parser.add_argument(
        "--detect-faces",
        action="store_true",
        help="also detect and crop faces in still images (default: images are face crops already)",
    )
    parser.add_argument(
        "--group-images",
        choices=GROUP_IMAGES,
        default="image",
        help="image tree: each image its own video (default) or one video per folder",
    )
    parser.add_argument(
        "--compression", default=None, help="FaceForensics++ level to use (c23, c40, raw)"
    )
    parser.add_argument(
        "--split",
        type=_fractions_arg,
        default=DEFAULT_FRACTIONS,
        metavar="TRAIN,VAL,TEST",
        help="split fractions by video, stratified (default 0.7,0.15,0.15)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument(
        "--reencode",
        default=None,
        metavar="jpeg:Q",
        help="re-encode every source image of both classes as JPEG quality Q first",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes decoding and cropping (default 1)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing dataset of that name"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when any input failed, was missing or had no face",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``dfshield build-lmdb``; prints the summary. Returns 0, or 1 with --strict and problems."""
    summary = build_dataset(
        args.source,
        args.out,
        args.name,
        layout=args.layout,
        frames=args.frames,
        detector=args.detector,
        scale=args.scale,
        size=args.size,
        on_missing=args.on_missing,
        detect_faces=args.detect_faces,
        group_images=args.group_images,
        compression=args.compression,
        reencode=args.reencode,
        fractions=args.split,
        seed=args.seed,
        overwrite=args.overwrite,
        workers=args.workers,
        device=args.device,
        progress=not args.no_progress,
    )
    print(summary.format())
    problems = summary.failed or summary.missing or summary.faces_not_found or summary.videos_empty
    return 1 if (args.strict and problems) else 0
