"""Run configuration: typed dataclasses read from YAML, with one documented precedence.

A run is configured by layers, merged in this order (**later wins**):

1. the dataclass defaults (each documented once, in its class docstring);
2. the **protocol** file (``configs/protocol.yaml`` by default): data, splits, epochs, batch size,
   seed, selection metric — everything that must be identical for every detector in a comparison;
3. the **detector** file (``configs/detectors/<name>.yaml``): ``detector`` (model and backbone),
   ``loss``, ``optimizer``, ``scheduler``;
4. command-line overrides ``--set key.sub=value`` (the value is parsed as YAML: ``--set
   train.epochs=5``, ``--set loss.alpha=0.8``, ``--set data.train_datasets=[A,B]``). A number in
   the path picks one item of a list, counting from 0: ``--set loss.terms.0.alpha=0.8`` changes
   the first term of a ``composite`` loss and keeps the others (an index past the end is an error
   naming the list's length).

Mappings merge key by key, except that a registry section (one with a ``name`` key: ``loss``,
``optimizer``, ...) whose ``name`` changes is replaced whole, so ``--set loss.name=bce`` does not
inherit the options of the loss it replaces.

**Inheritance.** A YAML file may start from other files, ``_base_: ../detectors/spcup.yaml`` (a
path relative to the file, or a list of paths merged in order), and hold only its differences.
As in mmengine, mappings merge recursively and the child wins, *also* where a ``name`` changes
(``detector: {name: mlp}`` over spcup keeps spcup's backbone and head options); write
``_delete_: true`` in a mapping to replace the inherited mapping instead of merging into it
(``loss: {_delete_: true, name: bce}``). A cycle of ``_base_`` files is an error naming them.

**Plugins.** ``imports: [my_head.py, my_pkg.losses]`` lists modules or ``.py`` files (relative to
the YAML file that names them) imported before the registry sections are checked, so a config can
name a detector, loss or optimizer defined in your own code. The lists of every layer and every
``_base_`` file add up.

**Checks, before anything is built.** Every layer is checked on its own against the dataclasses
(unknown key, wrong type). After each layer is merged, every registry section — ``detector`` with
its ``backbone``, ``loss`` with ``cvar``'s ``base`` and ``composite``'s ``terms``, ``optimizer``
with ``sam``'s ``base``, ``scheduler`` — is checked against its constructor's signature through
the registry (:func:`check_sections`). Either way the error names the key, the layer it came from
and the closest valid key. Values the trainer passes at build time (``class_counts`` and the like,
:data:`BUILD_TIME`) cannot be set in a config. A loss name that is not a registered loss is left
to a detector that builds its own loss (one that overrides ``build_loss``, as ``rdaa`` does).
A key written twice in one YAML file is an error. YAML is read with ``yaml.SafeLoader`` only.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import sys
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import yaml

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError

if TYPE_CHECKING:
    from dfshield.data.config import DataConfig
    from dfshield.registry import Registry

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"

#: Values the builders pass at build time, by section: not config options (name → its origin).
BUILD_TIME: dict[str, dict[str, str]] = {
    "loss": {"class_counts": "computed from the training data"},
    "optimizer": {
        "params": "the model's trainable parameters, passed by the trainer",
        "module": "the model, passed by the trainer",
    },
    "scheduler": {
        "optimizer": "the run's optimizer, passed by the trainer",
        "epochs": "taken from train.epochs",
        "steps_per_epoch": "computed from the dataset and train.batch_size",
    },
}
REGISTRY_SECTIONS = ("detector", "loss", "optimizer", "scheduler")


@dataclass
class TrainConfig:
    """Training protocol shared by every detector of a comparison.

    Attributes:
        epochs: number of passes over the training split.
        batch_size: samples per optimisation step.
        seed: seeds Python, NumPy and PyTorch (and the data order).
        selection_metric: validation metric that picks the ``best`` checkpoint (never a test
            metric); any key of ``compute_metrics``, e.g. ``auc``, ``ap``, ``eer`` (lower is
            better).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision of a trainable backbone's steps on GPU: ``auto`` (bf16 where
            supported), ``bf16`` or ``none``. (fp16 would need loss scaling, which PyTorch does
            not offer for closure-based optimisers such as SAM.) Heads on a feature bank train in
            fp32; frozen backbones have their own ``precision``.
        capture: ``auto`` (a CUDA graph of the whole training step of a head on a feature bank,
            when on a GPU with a fused optimizer; the plain step otherwise), ``off``,
            ``cuda_graph`` or ``compile`` (``torch.compile(mode="reduce-overhead")``); see
            ``dfshield.engine.steps``.
        eval_every: validate every this many epochs (the last epoch is always validated).
        output_dir: folder under which run folders are created.
        tensorboard: also write TensorBoard logs (needs the ``tensorboard`` extra).
        progress: show tqdm progress bars.
        bank_device_budget_gb: the largest feature bank (GiB, per split) copied whole onto the
            training device; a larger one stays memory-mapped on disk and the rows of each batch
            are read from it (the same batches, more slowly). ``null``: no limit; ``0``: always
            read from disk.
        batched_runs: in ``dfshield imbalance``, train the runs of one detector config (its
            ratios × seeds; a frozen backbone and an MLP head: ``mlp``, ``spcup``,
            ``robust_clip``) together as one batched model, each run with its own weights,
            batches, optimiser, validation and checkpoints (``dfshield.engine.batched``). Other
            detectors, and different configs such as the losses of ``--ablation``, run
            separately.
    """

    epochs: int = 10
    batch_size: int = 256
    seed: int = 8079
    selection_metric: str = "auc"
    device: str = "auto"
    amp: Literal["auto", "bf16", "none"] = "auto"
    capture: Literal["auto", "off", "cuda_graph", "compile"] = "auto"
    eval_every: int = 1
    output_dir: str = "runs"
    tensorboard: bool = False
    progress: bool = True
    bank_device_budget_gb: float | None = 8.0
    batched_runs: bool = False

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(
                f"train.device must be auto, cpu, cuda or cuda:N (the N-th GPU, from 0), got "
                f"{self.device!r}; for a GPU write cuda (or auto: the GPU when there is one)"
            )


def _default_data() -> DataConfig:
    from dfshield.data.config import DataConfig  # imported late: dfshield.data imports torch

    return DataConfig()


@dataclass
class RunConfig:
    """Everything one training run needs.

    Attributes:
        data: datasets, splits and loading (``dfshield.data.config.DataConfig``).
        train: the training protocol (``TrainConfig``).
        detector: ``name`` of a registered detector plus its constructor options, including its
            ``backbone`` section.
        loss: ``name`` of a registered loss plus its options (``dfshield list`` shows the names);
            empty: the detector's own default (BCE; a DeepfakeBench class: its ``get_losses``).
        optimizer: ``name`` of a registered optimizer plus its options.
        scheduler: ``name`` of a registered scheduler plus its options.
        imports: plugin modules or ``.py`` files imported before the sections above are checked
            (a file path is relative to the YAML file that lists it).
    """

    data: DataConfig = field(default_factory=_default_data)
    train: TrainConfig = field(default_factory=TrainConfig)
    detector: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=lambda: {"name": "adamw", "lr": 1e-4})
    scheduler: dict = field(default_factory=lambda: {"name": "none"})
    imports: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- reading YAML files ------------------------------------------------------------------------


class _DuplicateKeyError(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key, line)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (PyYAML keeps the
    last one silently). Keys that ``<<`` merges in may still be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable):
                if key in seen:
                    raise _DuplicateKeyError(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML config mapping with its ``_base_`` files merged in (see the module docstring).

    An empty file is an empty mapping; ``.py`` entries of ``imports`` become absolute paths.
    """
    return _resolve(Path(path), ())[0]


def _read_yaml(path: Path) -> dict:
    """One YAML file as a mapping, with ``_UniqueKeyLoader``."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except _DuplicateKeyError as error:
        raise ConfigError(
            f"duplicate key '{error.key}' in {path} (line {error.line}): YAML would keep only the "
            f"last value; keep one of them"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def _resolve(path: Path, chain: tuple[Path, ...]) -> tuple[dict, list[Path]]:
    """``path``'s mapping merged over its ``_base_`` files, and those files (ancestors first)."""
    here = path.resolve()
    if here in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(here) :], here))
        raise ConfigError(f"_base_ files form a cycle: {cycle}; remove one of these _base_ entries")
    data = _read_yaml(path)
    bases = _base_paths(data.pop(BASE_KEY, None), path)
    _absolute_imports(data, path)
    result: dict = {}
    ancestors: list[Path] = []
    for base in bases:
        parent, grandparents = _resolve(base, (*chain, here))
        ancestors += [*grandparents, base]
        result = _inherit(result, parent)
    return _inherit(result, data), ancestors


def _inherit(parent: dict, child: dict) -> dict:
    """``child`` merged over ``parent`` as ``_base_`` does: no rename rule, ``imports`` add up."""
    imports = _add_imports(parent.get("imports"), child.get("imports"))
    result = merge(parent, child, by_name=False)
    if imports is not None:
        result["imports"] = imports
    return result


def _base_paths(value: Any, path: Path) -> list[Path]:
    """The files named by ``_base_`` (a path or a list of paths, relative to ``path``)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(
            f"{BASE_KEY} in {path} must be a file path or a list of file paths, got {value!r}"
        )
    result = []
    for item in items:
        base = Path(item).expanduser()
        base = base if base.is_absolute() else path.parent / base
        if not base.is_file():
            raise ConfigError(f"{BASE_KEY} '{item}' of {path} not found (looked for {base})")
        result.append(base)
    return result


def _absolute_imports(data: dict, path: Path) -> None:
    """Make the ``.py`` entries of ``data["imports"]`` absolute, relative to ``path``'s folder."""
    specs = data.get("imports")
    if not isinstance(specs, list):
        return
    for i, spec in enumerate(specs):
        if isinstance(spec, str) and spec.endswith(".py"):
            file = Path(spec).expanduser()
            specs[i] = str(file if file.is_absolute() else (path.parent / file).resolve())


def _add_imports(old: Any, new: Any) -> list | None:
    """``old`` followed by the entries of ``new`` it lacks (both lists), else None."""
    if not isinstance(old, list) or not isinstance(new, list):
        return None
    return old + [spec for spec in new if spec not in old]


# -- layers ------------------------------------------------------------------------------------


class _Indexed(dict):
    """Items of a list picked by index in a ``--set`` path (``loss.terms.0.alpha``):
    ``{index: value}``, applied to the list they land on when the layers are merged, since the
    list itself is only known then. ``path`` is the list's dotted key, for messages."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path


def parse_overrides(items: list[str] | None) -> dict:
    """Turn ``["train.epochs=5", "loss.terms.0.alpha=0.8"]`` into a nested mapping (values are
    YAML); a number in the path picks a list item (see the module docstring)."""
    result: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key.sub=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {error}") from error
        node: dict = result
        parts = key.strip().split(".")
        for depth, part in enumerate(parts):
            name: Any = int(part) if isinstance(node, _Indexed) else part
            if depth == len(parts) - 1:
                node[name] = value
                break
            indexed = parts[depth + 1].isdigit()
            if name not in node:
                node[name] = _Indexed(".".join(parts[: depth + 1])) if indexed else {}
            node = node[name]
            if not isinstance(node, dict) or isinstance(node, _Indexed) != indexed:
                raise ConfigError(f"--set {item!r} conflicts with another --set of '{part}'")
    return result


def merge(base: dict, override: dict, by_name: bool = True) -> dict:
    """Deep-merge ``override`` into a copy of ``base`` (see the module docstring for the rule).

    A mapping of ``override`` with ``_delete_: true`` replaces the one in ``base`` (the key
    itself is dropped). With ``by_name`` (layers) so does a registry section whose ``name``
    changes; ``_base_`` inheritance passes ``by_name=False``.
    """
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, _Indexed):
            result[key] = _patch_list(result.get(key), value, by_name)
            continue
        if not isinstance(value, dict):
            result[key] = copy.deepcopy(value)
            continue
        old = result.get(key)
        renamed = (
            isinstance(old, dict)
            and "name" in old
            and old["name"] != value.get("name", old["name"])
        )
        if _delete(value) or not isinstance(old, dict) or (by_name and renamed):
            old = {}
        result[key] = merge(old, {k: v for k, v in value.items() if k != DELETE_KEY}, by_name)
    return result


def _patch_list(old: Any, patch: _Indexed, by_name: bool) -> list:
    """A copy of the list ``old`` with the items of ``patch`` merged into theirs."""
    if not isinstance(old, list):
        what = "not set" if old is None else f"{type(old).__name__}, not a list"
        raise ConfigError(
            f"--set {patch.path}.{next(iter(patch))}...: '{patch.path}' is {what} in the layers "
            f"below, so it has no items to pick; set the whole value, e.g. --set {patch.path}=[...]"
        )
    items = copy.deepcopy(old)
    for index, value in patch.items():
        if not 0 <= index < len(items):
            raise ConfigError(
                f"--set {patch.path}.{index}...: '{patch.path}' has {len(items)} item(s), so an "
                f"index must be 0 to {len(items) - 1}"
            )
        items[index] = merge({"item": items[index]}, {"item": value}, by_name)["item"]
    return items


def _delete(mapping: dict) -> bool:
    value = mapping.get(DELETE_KEY, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{DELETE_KEY} must be true or false, got {value!r}")
    return value


def build_config(layers: Sequence[tuple[str, dict]], cls: type = RunConfig) -> Any:
    """Check each ``(source, mapping)`` layer against ``cls``, merge them in order, and build it.

    For a ``RunConfig``, each layer's ``imports`` are imported and the registry sections are
    checked (:func:`check_sections`) as soon as the layer is merged, so an error names the layer
    that caused it.
    """
    merged: dict = {}
    imports: list[str] = []
    for source, data in layers:
        check(cls, data, source)
        merged = merge(merged, data)
        if issubclass(cls, RunConfig):
            new = [spec for spec in data.get("imports") or [] if spec not in imports]
            _import(new, source)
            imports += new
            merged["imports"] = list(imports)
            check_sections(merged, source)
    return from_dict(cls, merged, "the merged configuration")


def _import(specs: list[str], source: str) -> None:
    from dfshield.plugins import import_plugins

    try:
        import_plugins(specs)
    except ConfigError as error:
        raise type(error)(f"imports in {source}: {error}") from error


def load_run_config(
    protocol: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    extra_layers: list[tuple[str, dict]] | None = None,
) -> RunConfig:
    """Load protocol file < detector file < ``--set`` overrides into a checked ``RunConfig``.

    ``detector`` is a path or the name of a file in ``configs/detectors/``. ``extra_layers``
    (``(source, mapping)`` pairs) come last: commands such as ``dfshield demo`` use them.
    """
    layers = [_file_layer(Path(protocol) if protocol else config_dir() / "protocol.yaml")]
    if detector is not None:
        layers.append(_file_layer(find_detector_config(detector)))
    if overrides:
        layers.append(("--set", parse_overrides(overrides)))
    layers.extend(extra_layers or [])
    return build_config(layers)


def _file_layer(path: Path) -> tuple[str, dict]:
    """``(source, mapping)`` of a YAML file; the source names the ``_base_`` files too."""
    data, ancestors = _resolve(path, ())
    if not ancestors:
        return str(path), data
    return f"{path} (with _base_ {', '.join(map(str, ancestors))})", data


def config_dir() -> Path:
    """The folder of the shipped YAML files (``$DFSHIELD_CONFIG_DIR`` overrides it)."""
    candidates = []
    if os.environ.get("DFSHIELD_CONFIG_DIR"):
        candidates.append(Path(os.environ["DFSHIELD_CONFIG_DIR"]))
    candidates.append(Path(__file__).resolve().parent.parent / "configs")  # source checkout
    candidates.append(Path(sys.prefix) / "share" / "dfshield" / "configs")  # wheel install
    for candidate in candidates:
        if (candidate / "protocol.yaml").is_file():
            return candidate
    raise ConfigError(
        "cannot find dfshield's configs folder (looked in "
        f"{', '.join(map(str, candidates))}); set DFSHIELD_CONFIG_DIR to it"
    )


def find_detector_config(name_or_path: str | os.PathLike) -> Path:
    """A detector YAML by path, or by name in ``configs/detectors/``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"detector config file not found: {path}")
        return path
    folder = config_dir() / "detectors"
    shipped = sorted(p.stem for p in folder.glob("*.yaml"))
    candidate = folder / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError(
            f"no detector config named '{name_or_path}'.{did_you_mean(str(name_or_path), shipped)}"
            f" Shipped configs: {', '.join(shipped)}; or pass a YAML path"
        )
    return candidate


# -- registry sections -------------------------------------------------------------------------


def check_sections(cfg: Mapping[str, Any], source: str) -> None:
    """Check every registry section of a (merged) run config against its constructor.

    A section without a ``name`` is skipped until a detector is named (a protocol layer may set
    options that a detector file completes); after that it is an error. ``source`` is the layer
    named in errors.
    """
    detector = cfg.get("detector")
    name = detector.get("name") if isinstance(detector, dict) else None
    for kind in REGISTRY_SECTIONS:
        section = cfg.get(kind)
        if not isinstance(section, dict) or not section:
            continue
        if "name" not in section:
            if name is None:
                continue
            raise ConfigError(
                f"{kind} in {source} has options but no 'name'; name the {kind} "
                f"(`dfshield list` shows the registered names)"
            )
        if kind == "loss" and isinstance(name, str) and _detector_builds_loss(name, section):
            continue
        _check_entry(kind, section, kind, source)


def _check_entry(kind: str, cfg: dict, where: str, source: str) -> None:
    try:
        _registry(kind).check(cfg, BUILD_TIME.get(kind))
    except ConfigError as error:
        raise type(error)(f"{where} in {source}: {error}") from error
    for key, sub_kind, sub in nested_sections(kind, cfg):
        if isinstance(sub, dict):
            _check_entry(sub_kind, sub, f"{where}.{key}", source)


def nested_sections(kind: str, cfg: dict) -> Iterator[tuple[str, str, Any]]:
    """``(key, kind, config)`` of the registry sections inside a section: a detector's
    ``backbone``, ``cvar``'s ``base`` loss, ``composite``'s ``terms`` (less their ``weight``),
    ``sam``'s ``base`` optimizer."""
    name = cfg.get("name")
    if kind == "detector" and "backbone" in cfg:
        yield "backbone", "backbone", cfg["backbone"]
    elif (kind, name) in (("loss", "cvar"), ("optimizer", "sam")) and "base" in cfg:
        yield "base", kind, cfg["base"]
    elif (kind, name) == ("loss", "composite") and isinstance(cfg.get("terms"), list):
        for i, term in enumerate(cfg["terms"]):
            if isinstance(term, dict):
                yield f"terms[{i}]", "loss", {k: v for k, v in term.items() if k != "weight"}


def _detector_builds_loss(detector: str, loss: dict) -> bool:
    """True when ``loss`` names no registered loss and the detector overrides ``build_loss``."""
    from dfshield.detectors.base import BaseDetector

    if not isinstance(loss["name"], str) or loss["name"] in _registry("loss"):
        return False
    if detector not in _registry("detector"):
        return False
    entry = _registry("detector").get(detector)
    return getattr(entry, "build_loss", BaseDetector.build_loss) is not BaseDetector.build_loss


def _registry(kind: str) -> Registry:
    from dfshield.registry import BACKBONE, DETECTOR, LOSS, OPTIMIZER, SCHEDULER

    registries = {
        "detector": DETECTOR,
        "backbone": BACKBONE,
        "loss": LOSS,
        "optimizer": OPTIMIZER,
        "scheduler": SCHEDULER,
    }
    return registries[kind]


# -- typed conversion (the one converter of mappings into config dataclasses) ------------------


def check(cls: type, data: Any, source: str, prefix: str = "") -> None:
    """Check keys and value types of a (possibly partial) mapping against dataclass ``cls``."""
    _convert(cls, data, source, prefix, partial=True)


def from_dict(cls: type, data: Any, source: str = "config", prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, with errors that name the key and ``source``."""
    return _convert(cls, data, source, prefix, partial=False)


def _convert(cls: type, data: Any, source: str, prefix: str, partial: bool) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where} in {source} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, localns=_type_namespace())
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    values = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(
                f"unknown key '{prefix}{key}' in {source}.{did_you_mean(str(key), names)} "
                f"Valid keys under {where}: {', '.join(names)}"
            )
        values[key] = _value(hints[key], value, source, f"{prefix}{key}", partial)
    if partial:
        return None
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where} in {source}: {error}") from error


def _value(hint: Any, value: Any, source: str, key: str, partial: bool) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _convert(hint, value, source, key + ".", partial)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _value(option, value, source, key, partial)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(
            errors[0]
            if len(errors) == 1
            else f"{key} in {source} has an invalid value {value!r}: " + "; ".join(errors)
        )
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{key} in {source} must be one of {', '.join(map(repr, args))}, "
                f"got {value!r}.{did_you_mean(str(value), map(str, args))}"
            )
        return value
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} in {source} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} in {source} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} in {source} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} in {source} must be a string, got {value!r}")
        return value
    if origin in (list, tuple) or hint in (list, tuple):
        if isinstance(value, _Indexed):  # items picked by --set: each checked, merged later
            fixed = origin is tuple and args and args[-1] is not Ellipsis
            for i, v in value.items():
                item_hint = args[i] if fixed and i < len(args) else (args[0] if args else Any)
                _value(item_hint, v, source, f"{key}[{i}]", partial)
            return value
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} in {source} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key} in {source} must have {len(args)} items, got {value!r}")
            return tuple(
                _value(a, v, source, f"{key}[{i}]", partial)
                for i, (a, v) in enumerate(zip(args, value))
            )
        item_hint = args[0] if args else Any
        items = [_value(item_hint, v, source, f"{key}[{i}]", partial) for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or hint is tuple) else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} in {source} must be a mapping, got {value!r}")
        if len(args) == 2:
            return {k: _value(args[1], v, source, f"{key}.{k}", partial) for k, v in value.items()}
        return copy.deepcopy(value)
    return value


def _type_namespace() -> dict:
    """Names that string annotations of config dataclasses may refer to."""
    from dfshield.data.config import AugmentConfig, DataConfig

    return {"DataConfig": DataConfig, "AugmentConfig": AugmentConfig}
