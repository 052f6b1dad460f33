"""Split ../shared/data/faces-ffhq-stylegan2 into the image trees of docs/experiments.md.

Three ``real/`` + ``fake/`` trees are written under ``OUT/src/`` for ``dfshield build-lmdb``:

* ``pretext/`` — ``--pretext`` real and as many fake images (default 800 + 800), drawn by a seeded
  permutation. They train the backbone and are used for nothing else.
* ``study/`` — every remaining image (default 1,200 real + 1,200 fake): the imbalance study's
  train / val / test splits (made by ``build-lmdb``'s stratified split).
* ``control/`` — the double-compression control: ``real/`` holds the study's real PNGs as they are
  and ``fake/`` holds *the same* real images after one JPEG compression at ``--prior-quality``
  (default 75, the quality of the StyleGAN2 fakes; OpenCV writes the same standard IJG tables and
  4:2:0 chroma subsampling as the fakes' files). After ``build-lmdb --reencode jpeg:75`` the two
  classes differ *only* in their compression history — exactly the residual difference between
  real PNGs and fake JPEGs that re-encoding cannot remove. A classifier that separates them shows
  that the history is visible; one that cannot (AUC ≈ 0.5) shows it is not a usable shortcut.

The trees hold symbolic links to the source files (plus the control's JPEGs) and a
``split.json`` listing which source file went where. Nothing is written into the repository.

Usage::

    python scripts/experiments/faces_prepare.py \
        ../shared/data/faces-ffhq-stylegan2 /tmp/dfshield-exp
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np


def _images(folder: Path, suffix: str) -> list[Path]:
    files = sorted(
        folder.glob(f"*{suffix}"), key=lambda p: int("".join(c for c in p.stem if c.isdigit()))
    )
    if not files:
        sys.exit(f"no *{suffix} files in {folder}; pass the faces-ffhq-stylegan2 folder")
    return files


def _link_all(files: list[Path], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        (target / path.name).symlink_to(path.resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source", type=Path, help="faces-ffhq-stylegan2 folder (real/*.png, fake/*.jpg)"
    )
    parser.add_argument("out", type=Path, help="experiment folder, e.g. /tmp/dfshield-exp")
    parser.add_argument(
        "--pretext", type=int, default=800, help="images per class for the backbone (800)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation (0)")
    parser.add_argument(
        "--prior-quality",
        type=int,
        default=75,
        help="JPEG quality of the control's first compression (75 = the fakes')",
    )
    args = parser.parse_args(argv)

    real = _images(args.source / "real", ".png")
    fake = _images(args.source / "fake", ".jpg")
    if not 2 <= args.pretext < min(len(real), len(fake)) - 20:
        sys.exit(
            f"--pretext {args.pretext} leaves too few images for the study "
            f"({len(real)} real, {len(fake)} fake)"
        )
    src = args.out / "src"
    if src.exists():
        shutil.rmtree(src)
    rng = np.random.default_rng(args.seed)
    split: dict[str, dict[str, list[str]]] = {"pretext": {}, "study": {}}
    for label, files in (("real", real), ("fake", fake)):
        order = rng.permutation(len(files))
        pretext = sorted((files[i] for i in order[: args.pretext]), key=lambda p: p.name)
        study = sorted((files[i] for i in order[args.pretext :]), key=lambda p: p.name)
        _link_all(pretext, src / "pretext" / label)
        _link_all(study, src / "study" / label)
        split["pretext"][label] = [p.name for p in pretext]
        split["study"][label] = [p.name for p in study]

    # the control: the study's real images, once as they are and once through JPEG prior-quality
    study_real = [args.source / "real" / name for name in split["study"]["real"]]
    _link_all(study_real, src / "control" / "real")
    double = src / "control" / "fake"
    double.mkdir(parents=True)
    for path in study_real:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, args.prior_quality])
        if not ok:
            sys.exit(f"JPEG encoding failed for {path}")
        (double / f"{path.stem}.jpg").write_bytes(buffer.tobytes())
    split["control"] = {
        "real": split["study"]["real"],
        "fake": [
            f"{Path(n).stem}.jpg (JPEG q{args.prior_quality} of real/{n})"
            for n in split["study"]["real"]
        ],
    }
    (src / "split.json").write_text(json.dumps({"seed": args.seed, **split}, indent=1))
    for name in ("pretext", "study", "control"):
        counts = {label: len(list((src / name / label).iterdir())) for label in ("real", "fake")}
        print(f"{src / name}: {counts['real']} real, {counts['fake']} fake")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
