"""Writing datasets in DeepfakeBench's format: one JSON index plus one LMDB of PNG frames.

Layout written under ``out_dir`` for a dataset called ``Name``::

    out_dir/json/Name.json
    out_dir/json/deepfakebench.yaml         (the settings DeepfakeBench needs to read it)
    out_dir/lmdb/Name_lmdb/{data.mdb,lock.mdb}

JSON (the shape DeepfakeBench's released ``dataset_json`` files have, without a compression level,
which DeepfakeBench only uses for FaceForensics++-family names)::

    {"Name": {"Name_real": {"train": {<video>: {"label": "Name_real", "frames": [<path>, ...]}},
                            "val": {...}, "test": {...}},
              "Name_fake": {"train": {...}, "val": {...}, "test": {...}}}}

* **Label strings.** The two label groups are ``"{Name}_real"`` (numeric label 0) and
  ``"{Name}_fake"`` (numeric label 1). dfshield's reader recognises them in a dataset called
  ``Name`` without configuration; :func:`label_dict_for` returns the two lines to add to
  DeepfakeBench's ``label_dict`` to train there, and ``deepfakebench.yaml`` holds them with the
  folders (:func:`write_deepfakebench_yaml`).
* **Frame paths and LMDB keys** are the same string, with Windows backslashes like DeepfakeBench's
  released data: ``Name\\real\\frames\\real_<video>\\<idx>.png`` (``fake`` for fakes), where
  ``<idx>`` is the original frame index, zero-padded to at least 3 digits. The key is that string
  in UTF-8; the value is the PNG file bytes from ``cv2.imencode(".png", bgr)``. The class starts
  the video's folder name because DeepfakeBench's video-level metrics group frames by that name
  alone: a real ``001`` and a fake ``001`` stay two videos.
* **Videos.** Every entry is a video: a list of frames with their original indices. Image datasets
  store each image as a one-frame video (index ``000``) unless the builder groups images into
  videos.
* **Splits** are assigned per video (never frames of one video in two splits), stratified by label,
  seeded: see :func:`split_videos`. All three split keys are always present (possibly empty).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import lmdb
import numpy as np
import yaml

from dfshield._suggest import did_you_mean
from dfshield.data.index import own_label_dict
from dfshield.dataset_builder.staging import Staging
from dfshield.errors import ConfigError, DataError
from dfshield.fileio import write_text_atomic

SPLITS = ("train", "val", "test")
DEEPFAKEBENCH_YAML = "deepfakebench.yaml"
LABELS = ("real", "fake")  # index = numeric label: real 0, fake 1
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)

#: Names whose DeepfakeBench JSON carries a compression level key and whose frames live in the
#: shared ``FaceForensics++_lmdb``; a builder dataset must not use them (its JSON has no compression
#: key).
FF_FAMILY = frozenset(
    {
        "FaceForensics++",
        "FF-DF",
        "FF-F2F",
        "FF-FS",
        "FF-NT",
        "FF-FH",
        "DeepFakeDetection",
        "FaceShifter",
    }
)

_LABEL_ALIASES = {
    "real": "real",
    "0": "real",
    "original": "real",
    "pristine": "real",
    "genuine": "real",
    "fake": "fake",
    "1": "fake",
    "manipulated": "fake",
    "synthetic": "fake",
    "deepfake": "fake",
}
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


# ---------------------------------------------------------------------------------------------
# names, labels, keys
# ---------------------------------------------------------------------------------------------
def check_dataset_name(name: str) -> str:
    """Validate a dataset name for the JSON file, the label groups and the LMDB folder."""
    name = str(name)
    if not _NAME_OK.match(name):
        raise ConfigError(
            f"Dataset name {name!r} is not usable: use letters, digits, '.', '_', '+' or '-' "
            "(no spaces or path separators), starting with a letter or digit, e.g. 'MyFaces'."
        )
    if name in FF_FAMILY or name.split("_c")[0] in FF_FAMILY:
        raise ConfigError(
            f"Dataset name {name!r} is a FaceForensics++-family name, which readers expect with a "
            "compression level and the shared FaceForensics++_lmdb. Choose another name, e.g. "
            "'MyFF'."
        )
    return name


def label_dict_for(name: str) -> dict[str, int]:
    """The label strings a built dataset uses: ``{"{name}_real": 0, "{name}_fake": 1}``.

    dfshield's reader recognises them in a dataset called ``name`` by itself; add these two
    lines to DeepfakeBench's ``label_dict`` to train there.
    """
    return own_label_dict(name)


def write_deepfakebench_yaml(out_dir: str | Path, name: str) -> Path:
    """Write ``<out_dir>/json/deepfakebench.yaml``: what DeepfakeBench needs to train and test on
    the datasets built into ``out_dir`` — their ``label_dict`` lines, ``lmdb_dir`` and
    ``dataset_json_folder`` (absolute), and how its ``train.py`` overrides the JSON folder.

    Datasets built into the same folder before (listed by the file being replaced, JSON still
    present) keep their lines. Returns the path.
    """
    out = Path(out_dir).resolve()
    path = out / "json" / DEEPFAKEBENCH_YAML
    names = sorted({name} | _datasets_listed(path))
    write_text_atomic(path, _deepfakebench_yaml(out, names))
    return path


def _datasets_listed(path: Path) -> set[str]:
    """The built datasets a previous ``deepfakebench.yaml`` lists (its ``<Name>_real`` labels)
    whose JSON is still beside it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()
    labels = data.get("label_dict") if isinstance(data, dict) else None
    if not isinstance(labels, dict):
        return set()
    names = {key.removesuffix("_real") for key in labels if str(key).endswith("_real")}
    return {n for n in names if (path.parent / f"{n}.json").is_file()}


_DEEPFAKEBENCH_TEMPLATE = """\
# DeepfakeBench settings for the dataset(s) dfshield built in {out}: {names}.
# DeepfakeBench's training/train.py reads the detector YAML, then
# training/config/train_config.yaml, whose keys win (training/test.py: test_config.yaml).
# Put these keys in train_config.yaml and test_config.yaml.
#
# label_dict: add these lines to the label_dict already there. (A label_dict in the
# detector YAML replaces train_config.yaml's whole label_dict in train.py.)
label_dict:
{labels}

# The frames are stored only in the LMDB (no frame folders): keep lmdb true. rgb_dir, the
# folder of frame folders read when lmdb is false, is not used by these datasets: leave
# yours as it is.
lmdb: true
lmdb_dir: {lmdb_dir}  # holds <Name>_lmdb

# dataset_json_folder: test.py uses this value, but train.py replaces it whenever lmdb is
# true, after reading the YAML files:
#     if config['lmdb']:
#         config['dataset_json_folder'] = 'preprocessing/dataset_json_v3'
# (relative to the DeepfakeBench folder you run it from). For training, link the JSON
# there, or delete those two lines of training/train.py:
#     mkdir -p preprocessing/dataset_json_v3
{links}
dataset_json_folder: {json_dir}

# Then, from the DeepfakeBench folder:
#     python training/train.py --detector_path training/config/detector/<detector>.yaml \\
#         --train_dataset {first} --test_dataset {first}
"""


def _deepfakebench_yaml(out: Path, names: Sequence[str]) -> str:
    """The text of ``deepfakebench.yaml`` (paths as JSON strings: valid YAML, any characters)."""
    json_dir = out / "json"
    return _DEEPFAKEBENCH_TEMPLATE.format(
        out=out,
        names=", ".join(names),
        labels="\n".join(
            f"  {label}: {value}" for n in names for label, value in label_dict_for(n).items()
        ),
        lmdb_dir=json.dumps(str(out / "lmdb")),
        links="\n".join(
            f"#     ln -s {json.dumps(str(json_dir / f'{n}.json'))} preprocessing/dataset_json_v3/"
            for n in names
        ),
        json_dir=json.dumps(str(json_dir)),
        first=names[0],
    )


def normalize_label(value: Any) -> str:
    """``"real"`` or ``"fake"`` from 0/1, real/fake and common spellings (REAL, FAKE, original,
    ...)."""
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return LABELS[int(value)]
    text = str(value).strip().lower()
    if text in _LABEL_ALIASES:
        return _LABEL_ALIASES[text]
    raise DataError(
        f"Unknown label {value!r}: use real/fake (or 0 = real, 1 = fake)."
        + did_you_mean(text, _LABEL_ALIASES)
    )


def safe_video_name(text: str) -> str:
    """A video name safe inside a backslash- or slash-separated key: unsafe characters become
    ``_``."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")
    return cleaned or "video"


def frame_key(name: str, label: str | int, video: str, index: int) -> str:
    """``Name\\<real|fake>\\frames\\<real|fake>_<video>\\<idx>.png`` — JSON frame path and LMDB
    key. The video's folder name carries the class so that it is unique in the whole dataset
    (DeepfakeBench groups frames into videos by that name alone)."""
    if "\\" in video or "/" in video:
        raise DataError(
            f"Video name {video!r} contains a path separator; use safe_video_name() first."
        )
    label = normalize_label(label)
    return f"{name}\\{label}\\frames\\{label}_{video}\\{int(index):03d}.png"


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image, written by OpenCV (stored as BGR like DeepfakeBench)."""
    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"Expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}.")
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV only fails on invalid input
        raise DataError(f"OpenCV could not encode an image of shape {image.shape} as PNG.")
    return buffer.tobytes()


# ---------------------------------------------------------------------------------------------
# re-encoding (format shortcut neutraliser)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reencoder:
    """Re-encode images through a lossy codec (``jpeg`` at ``quality``) and decode them again.

    Applied identically to every image of both classes so that a format difference between the
    sources (e.g. real PNG vs fake JPEG) stops being a shortcut.
    """

    format: str = "jpeg"
    quality: int = 90

    def __str__(self) -> str:
        return f"{self.format}:{self.quality}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(self.quality)])
        if not ok:  # pragma: no cover
            raise DataError(f"JPEG re-encoding failed for an image of shape {rgb.shape}.")
        return cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def parse_reencode(spec: str | None) -> Reencoder | None:
    """``"jpeg:Q"`` (Q in 1..100) → :class:`Reencoder`; ``None``/``""``/``"none"`` → ``None``."""
    if spec is None or str(spec).strip().lower() in ("", "none", "off", "no"):
        return None
    text = str(spec).strip().lower()
    fmt, _, quality = text.partition(":")
    if fmt in ("jpg", "jpeg") and quality.isdigit() and 1 <= int(quality) <= 100:
        return Reencoder("jpeg", int(quality))
    raise ConfigError(
        f"Cannot read re-encoding {spec!r}: write jpeg:Q with a quality Q from 1 to 100, e.g. "
        "--reencode jpeg:90, or leave it out to store the images as decoded."
    )


# ---------------------------------------------------------------------------------------------
# splitting
# ---------------------------------------------------------------------------------------------
def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate and normalise (train, val, test) fractions."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Split fractions must be three numbers (train, val, test), got {fractions!r}."
        ) from exc
    if len(values) != 3 or any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(
            "Split fractions must be three non-negative numbers (train, val, test) with a "
            f"positive sum, got {fractions!r}; e.g. 0.7,0.15,0.15."
        )
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` items into counts proportional to ``fractions`` (largest remainder); every split
    with a positive fraction gets at least one item when there are enough items."""
    raw = [n * f for f in fractions]
    counts = [int(math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        for i in positive:
            if counts[i] == 0:
                donor = max(positive, key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return counts


def _cost_increase(
    need: dict[str, int], targets: dict[str, list[int]], current: dict[str, list[int]], split: int
) -> float:
    """How much further from the per-label split targets (sum of squared gaps) the counts get when
    a group of ``need`` videos per label joins ``split``."""
    total = 0.0
    for lab in LABELS:
        before = targets[lab][split] - current[lab][split]
        after = before - need[lab]
        total += after * after - before * before
    return total


def split_videos(
    video_names: Sequence[Hashable],
    labels: Sequence[Any],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    groups: Sequence[Hashable | None] | None = None,
) -> dict[Hashable, str]:
    """Assign each video to ``"train"``/``"val"``/``"test"``: stratified by label, seeded.

    * Per label, videos are shuffled with a generator seeded by ``(seed, label)`` and cut by
      ``fractions`` (largest-remainder rounding; every split with a positive fraction gets at least
      one video of a label that has enough videos). The result does not depend on input order.
    * ``groups`` (optional, one per video, ``None`` = its own group) keeps related videos together,
      e.g. a fake and the real video it was made from; groups are then placed greedily so each
      split's per-label counts come as close as possible to the stratified targets.

    Names must be unique; labels are anything :func:`normalize_label` accepts.
    """
    names = list(video_names)
    if len(names) != len(labels):
        raise ConfigError(f"split_videos got {len(names)} video names but {len(labels)} labels.")
    if len(set(names)) != len(names):
        seen: set = set()
        dup = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise DataError(
            f"Video name {dup!r} appears twice; video names given to split_videos must be unique."
        )
    fracs = check_fractions(fractions)
    label_of = {n: normalize_label(lab) for n, lab in zip(names, labels)}
    if groups is not None and len(groups) != len(names):
        raise ConfigError(f"split_videos got {len(names)} video names but {len(groups)} groups.")

    if groups is None or all(g is None for g in groups):
        result: dict[Hashable, str] = {}
        for li, lab in enumerate(LABELS):
            members = sorted((n for n in names if label_of[n] == lab), key=repr)
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, li])
            members = [members[i] for i in rng.permutation(len(members))]
            start = 0
            for split, count in zip(SPLITS, _allocate(len(members), fracs)):
                for n in members[start : start + count]:
                    result[n] = split
                start += count
        return result

    # group-aware: gather groups, then greedy placement towards per-label targets
    group_members: dict[Any, list] = {}
    for n, g in zip(names, groups):
        key = ("group", g) if g is not None else ("video", n)
        group_members.setdefault(key, []).append(n)
    targets = {lab: _allocate(sum(1 for n in names if label_of[n] == lab), fracs) for lab in LABELS}
    current = {lab: [0, 0, 0] for lab in LABELS}
    keys = sorted(group_members, key=repr)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
    keys = [keys[i] for i in rng.permutation(len(keys))]
    # stable: big groups first, seeded order within a size
    keys.sort(key=lambda k: -len(group_members[k]))
    result = {}
    for key in keys:
        members = group_members[key]
        need = {lab: sum(1 for n in members if label_of[n] == lab) for lab in LABELS}
        best = min((_cost_increase(need, targets, current, s), s) for s in range(3))[1]
        for lab in LABELS:
            current[lab][best] += need[lab]
        for n in members:
            result[n] = SPLITS[best]
    return result


# ---------------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------------
def _zero_table() -> dict[str, dict[str, int]]:
    return {s: {lab: 0 for lab in LABELS} for s in SPLITS}


@dataclass
class BuildSummary:
    """What a build wrote and what it had to leave out.

    ``videos`` and ``frames`` are ``{split: {"real": n, "fake": n}}``. ``faces_not_found`` counts
    frames where no face was detected (of which ``frames_center_cropped`` were kept as centre crops
    and ``frames_skipped`` dropped); ``videos_empty`` lists videos left with no frame;
    ``failed`` lists ``(source, reason)`` of inputs that could not be read; ``missing`` lists files
    a metadata file names but that are absent.
    """

    name: str
    out_dir: str
    json_path: str
    lmdb_path: str
    label_dict: dict[str, int]
    videos: dict[str, dict[str, int]] = field(default_factory=_zero_table)
    frames: dict[str, dict[str, int]] = field(default_factory=_zero_table)
    bytes_written: int = 0
    faces_not_found: int = 0
    frames_center_cropped: int = 0
    frames_skipped: int = 0
    videos_empty: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    deepfakebench_yaml: str = ""

    @property
    def total_videos(self) -> int:
        return sum(sum(v.values()) for v in self.videos.values())

    @property
    def total_frames(self) -> int:
        return sum(sum(v.values()) for v in self.frames.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_videos"] = self.total_videos
        data["total_frames"] = self.total_frames
        return data

    def format(self, max_listed: int = 10) -> str:
        """Human-readable report (what ``build-lmdb`` and ``demo-data`` print)."""
        lines = [
            f"Dataset {self.name}: {self.total_videos} videos, {self.total_frames} frames, "
            f"{_human_bytes(self.bytes_written)} written in {self.seconds:.1f} s"
        ]
        lines.append(
            f"  {'split':<6} {'real videos':>12} {'fake videos':>12} {'real frames':>12} "
            f"{'fake frames':>12}"
        )
        for s in SPLITS:
            v, f = self.videos[s], self.frames[s]
            lines.append(
                f"  {s:<6} {v['real']:>12} {v['fake']:>12} {f['real']:>12} {f['fake']:>12}"
            )
        if self.faces_not_found or self.frames_center_cropped or self.frames_skipped:
            lines.append(
                f"  faces not found: {self.faces_not_found} frames "
                f"({self.frames_center_cropped} kept as centre crops, "
                f"{self.frames_skipped} skipped)"
            )
        for title, items in (
            ("videos with no usable frame", self.videos_empty),
            ("inputs that could not be read", [f"{p}: {r}" for p, r in self.failed]),
            ("files named in metadata but missing", self.missing),
        ):
            if items:
                lines.append(f"  {title}: {len(items)}")
                lines.extend(f"    {item}" for item in items[:max_listed])
                if len(items) > max_listed:
                    lines.append(f"    ... and {len(items) - max_listed} more")
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(f"  JSON: {self.json_path}")
        lines.append(f"  LMDB: {self.lmdb_path}")
        lines.append("  label_dict: " + ", ".join(f"{k}: {v}" for k, v in self.label_dict.items()))
        if self.deepfakebench_yaml:
            lines.append(f"  DeepfakeBench settings: {self.deepfakebench_yaml}")
        return "\n".join(lines)


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# writer
# ---------------------------------------------------------------------------------------------
Frame = tuple[int, Any]  # (original frame index, RGB uint8 array or ready PNG bytes)


@dataclass
class _VideoRecord:
    label: str
    keys: list[str]
    split: str | None
    group: Hashable | None


class DatasetWriter:
    """Write videos of frames into ``<out>/lmdb/<Name>_lmdb`` and, on :meth:`close`, the JSON index.

    Usage::

        with DatasetWriter(out_dir, "MyFaces") as writer:
            writer.add_video("clip01", "real", [(0, rgb0), (16, rgb16)])
            writer.add_video("clip02", "fake", frames)
        summary = writer.summary          # filled by close()

    Frames are written as they come (one LMDB transaction per video) into a staging LMDB beside
    the target; the LMDB map grows (doubling) whenever it is full. Splits are given per video
    (``split=``) or, for videos without one, assigned at :meth:`close` by :func:`split_videos`
    (stratified, seeded, ``group``-aware), which writes the JSON and swaps the new dataset in
    (:mod:`dfshield.dataset_builder.staging`: a previous dataset stays until then, and a build of
    the same name into the same folder is locked out meanwhile). An existing dataset of the same
    name is an error unless ``overwrite=True``. Leaving the ``with`` block by an exception discards
    the build.
    """

    def __init__(
        self, out_dir: str | Path, name: str, *, overwrite: bool = False, map_size: int = 1 << 28
    ) -> None:
        self.name = check_dataset_name(name)
        self.out_dir = Path(out_dir)
        self.json_path = self.out_dir / "json" / f"{self.name}.json"
        self.lmdb_path = self.out_dir / "lmdb" / f"{self.name}_lmdb"
        self._staging = Staging(self.json_path, self.lmdb_path)
        self._staging.begin(overwrite)  # folders, lock, leftovers, the existing dataset
        self._map_size = int(map_size)
        try:
            self._env: lmdb.Environment | None = lmdb.open(
                str(self._staging.staged_lmdb),
                map_size=self._map_size,
                subdir=True,
                metasync=False,
                sync=False,
            )
        except lmdb.Error as error:
            self._staging.discard()
            raise self._write_error(error) from error
        self._videos: dict[tuple[str, str], _VideoRecord] = {}
        self._frames = {lab: 0 for lab in LABELS}
        self.bytes_written = 0
        self.summary: BuildSummary | None = None
        self._start = time.perf_counter()

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.summary is None:
                self.close()
        else:
            self.abort()

    # -- writing ---------------------------------------------------------------------------------
    @property
    def video_count(self) -> int:
        return len(self._videos)

    def add_video(
        self,
        video: str,
        label: Any,
        frames: Iterable[Frame],
        *,
        split: str | None = None,
        group: Hashable | None = None,
    ) -> int:
        """Store one video's frames ``[(index, rgb_or_png_bytes), ...]``; returns how many were
        stored.

        A video with no frame is not recorded (returns 0). ``video`` must be a safe name (see
        :func:`safe_video_name`) and unique within its label.
        """
        if self._env is None:
            raise DataError("DatasetWriter is closed; create a new one to write more videos.")
        lab = normalize_label(label)
        if safe_video_name(video) != video:
            raise DataError(
                f"Video name {video!r} has unsafe characters; use {safe_video_name(video)!r}."
            )
        if (lab, video) in self._videos:
            raise DataError(
                f"Video {video!r} ({lab}) was added twice; video names must be unique within a "
                "label."
            )
        if split is not None and split not in SPLITS:
            raise ConfigError(
                f"Unknown split {split!r}; use one of {', '.join(SPLITS)}."
                + did_you_mean(split, SPLITS)
            )
        items: dict[str, bytes] = {}
        for index, image in frames:
            key = frame_key(self.name, lab, video, int(index))
            if key in items:
                raise DataError(f"Frame {index} of video {video!r} was given twice.")
            items[key] = (
                image if isinstance(image, (bytes, bytearray)) else encode_png(np.asarray(image))
            )
        if not items:
            return 0
        self._put(items)
        keys = sorted(items, key=lambda k: int(k.rsplit("\\", 1)[1].split(".")[0]))
        self._videos[(lab, video)] = _VideoRecord(lab, keys, split, group)
        self._frames[lab] += len(keys)
        return len(keys)

    def _put(self, items: Mapping[str, bytes]) -> None:
        assert self._env is not None
        size = sum(len(v) for v in items.values())
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in items.items():
                        txn.put(key.encode("utf-8"), bytes(value))
                break
            except lmdb.MapFullError:
                self._map_size = max(self._map_size * 2, self._map_size + 4 * size)
                self._env.set_mapsize(self._map_size)
            except (lmdb.Error, OSError) as error:
                raise self._write_error(error) from error
        self.bytes_written += size

    # -- finishing -------------------------------------------------------------------------------
    def assign_splits(
        self, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
    ) -> dict[tuple[str, str], str]:
        """Split of every stored video ``{(label, video): split}`` (given ones kept, others
        assigned)."""
        free = [k for k, r in self._videos.items() if r.split is None]
        assigned = {k: r.split for k, r in self._videos.items() if r.split is not None}
        if free:
            groups = [self._videos[k].group for k in free]
            assigned.update(
                split_videos(
                    free,
                    [k[0] for k in free],
                    fractions,
                    seed,
                    groups=None if all(g is None for g in groups) else groups,
                )
            )
        return assigned  # type: ignore[return-value]

    def close(self, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> BuildSummary:
        """Assign splits, close the LMDB, write the JSON and swap the new dataset in; returns (and
        keeps) the :class:`BuildSummary`."""
        if self.summary is not None:
            return self.summary
        if self._env is None:
            raise DataError("DatasetWriter was aborted; nothing to close.")
        splits = self.assign_splits(fractions, seed)
        index: dict[str, dict[str, dict[str, Any]]] = {
            f"{self.name}_{lab}": {s: {} for s in SPLITS} for lab in LABELS
        }
        summary = BuildSummary(
            self.name,
            str(self.out_dir),
            str(self.json_path),
            str(self.lmdb_path),
            label_dict_for(self.name),
        )
        for lab, video in sorted(self._videos):
            record = self._videos[(lab, video)]
            split = splits[(lab, video)]
            group = f"{self.name}_{lab}"
            index[group][split][video] = {"label": group, "frames": list(record.keys)}
            summary.videos[split][lab] += 1
            summary.frames[split][lab] += len(record.keys)
        try:
            self._env.sync(True)
            self._env.close()
            self._env = None
            # the staged JSON marks the build complete; the commit swaps both in
            write_text_atomic(self._staging.staged_json, json.dumps({self.name: index}, indent=1))
        except (lmdb.Error, OSError) as error:
            self.abort()
            raise self._write_error(error) from error
        self._staging.commit()
        summary.deepfakebench_yaml = str(write_deepfakebench_yaml(self.out_dir, self.name))
        summary.bytes_written = self.bytes_written
        summary.seconds = time.perf_counter() - self._start
        self.summary = summary
        return summary

    def abort(self) -> None:
        """Stop without writing anything: the staged LMDB is deleted and a previous dataset of
        that name stays as it was."""
        if self._env is not None:
            self._env.close()
            self._env = None
        self._staging.discard()

    def _write_error(self, error: Exception) -> DataError:
        return DataError(
            f"Writing dataset {self.name} into {self.out_dir} failed: {error}. The disk may be "
            "full or the folder not writable: free space or choose another output folder (a "
            "previous dataset of that name is untouched)."
        )
