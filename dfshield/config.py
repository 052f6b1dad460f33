"""Run configuration: typed dataclasses read from YAML, with one documented precedence.

A run is configured by three layers, merged in this order (**later wins**):

1. the dataclass defaults (each documented once, in its class docstring);
2. the **protocol** file (``configs/protocol.yaml`` by default): data, splits, epochs, batch size,
   seed, selection metric — everything that must be identical for every detector in a comparison;
3. the **detector** file (``configs/detectors/<name>.yaml``): ``detector`` (model and backbone),
   ``loss``, ``optimizer``, ``scheduler``;
4. command-line overrides ``--set key.sub=value`` (the value is parsed as YAML: ``--set
   train.epochs=5``, ``--set loss.alpha=0.8``, ``--set data.train_datasets=[A,B]``).

Mappings merge key by key, except that a registry section (one with a ``name`` key: ``loss``,
``optimizer``, ...) whose ``name`` changes is replaced whole, so ``--set loss.name=bce`` does not
inherit the options of the loss it replaces. Every layer is checked on its own before merging, so
an unknown key or a wrong type is reported with the file it came from and the closest valid key.
YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError


@dataclass
class TrainConfig:
    """Training protocol shared by every detector of a comparison.

    Attributes:
        epochs: number of passes over the training split.
        batch_size: samples per optimisation step.
        seed: seeds Python, NumPy and PyTorch (and the data order).
        selection_metric: validation metric that picks the ``best`` checkpoint (never a test
            metric); any key of ``compute_metrics``, e.g. ``auc``, ``ap``, ``eer`` (lower is better).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision of the trained part on GPU: ``auto`` (bf16 where supported),
            ``bf16`` or ``none``. (fp16 would need loss scaling, which PyTorch does not offer for
            closure-based optimisers such as SAM.) Frozen backbones have their own ``precision``.
        eval_every: validate every this many epochs (the last epoch is always validated).
        output_dir: folder under which run folders are created.
        tensorboard: also write TensorBoard logs (needs the ``tensorboard`` extra).
        progress: show tqdm progress bars.
    """

    epochs: int = 10
    batch_size: int = 256
    seed: int = 8079
    selection_metric: str = "auc"
    device: str = "auto"
    amp: Literal["auto", "bf16", "none"] = "auto"
    eval_every: int = 1
    output_dir: str = "runs"
    tensorboard: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be at least 1, got {getattr(self, key)}")


@dataclass
class RunConfig:
    """Everything one training run needs.

    Attributes:
        data: datasets, splits and loading (``dfshield.data.config.DataConfig``).
        train: the training protocol (``TrainConfig``).
        detector: ``name`` of a registered detector plus its constructor options, including its
            ``backbone`` section.
        loss: ``name`` of a registered loss plus its options (``dfshield list`` shows the names).
        optimizer: ``name`` of a registered optimizer plus its options.
        scheduler: ``name`` of a registered scheduler plus its options.
    """

    data: DataConfig = None  # type: ignore[assignment]  # filled in __post_init__
    train: TrainConfig = field(default_factory=TrainConfig)
    detector: dict = field(default_factory=dict)
    loss: dict = field(default_factory=lambda: {"name": "bce"})
    optimizer: dict = field(default_factory=lambda: {"name": "adamw", "lr": 1e-4})
    scheduler: dict = field(default_factory=lambda: {"name": "none"})

    def __post_init__(self) -> None:
        if self.data is None:
            self.data = _data_config_class()()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _data_config_class() -> type:
    from dfshield.data.config import DataConfig

    return DataConfig


# -- loading and merging ---------------------------------------------------------------------


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML mapping with ``yaml.safe_load``; an empty file is an empty mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def parse_overrides(items: list[str] | None) -> dict:
    """Turn ``["train.epochs=5", "loss.alpha=0.8"]`` into a nested mapping (values parsed as YAML)."""
    result: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key.sub=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {error}") from error
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r} conflicts with another --set of '{part}'")
        node[parts[-1]] = value
    return result


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base`` (see the module docstring for the rule)."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        old = result.get(key)
        renamed = (
            isinstance(old, dict)
            and isinstance(value, dict)
            and "name" in value
            and "name" in old
            and value["name"] != old["name"]
        )
        if isinstance(old, dict) and isinstance(value, dict) and not renamed:
            result[key] = merge(old, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def build_config(layers: list[tuple[str, dict]], cls: type = RunConfig) -> Any:
    """Check each ``(source, mapping)`` layer against ``cls``, merge them in order, and build it."""
    merged: dict = {}
    for source, data in layers:
        check(cls, data, source)
        merged = merge(merged, data)
    return from_dict(cls, merged, "the merged configuration")


def load_run_config(
    protocol: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    extra_layers: list[tuple[str, dict]] | None = None,
) -> RunConfig:
    """Load protocol file < detector file < ``--set`` overrides into a ``RunConfig``.

    ``detector`` is a path or the name of a file in ``configs/detectors/``. ``extra_layers``
    (``(source, mapping)`` pairs) come last: commands such as ``dfshield demo`` use them.
    """
    layers = []
    protocol_path = Path(protocol) if protocol else config_dir() / "protocol.yaml"
    layers.append((str(protocol_path), load_yaml(protocol_path)))
    if detector is not None:
        detector_path = find_detector_config(detector)
        layers.append((str(detector_path), load_yaml(detector_path)))
    if overrides:
        layers.append(("--set", parse_overrides(overrides)))
    layers.extend(extra_layers or [])
    return build_config(layers)


def config_dir() -> Path:
    """The folder of the shipped YAML files (``$DFSHIELD_CONFIG_DIR`` overrides it)."""
    candidates = []
    if os.environ.get("DFSHIELD_CONFIG_DIR"):
        candidates.append(Path(os.environ["DFSHIELD_CONFIG_DIR"]))
    candidates.append(Path(__file__).resolve().parent.parent / "configs")  # source checkout
    candidates.append(Path(os.sys.prefix) / "share" / "dfshield" / "configs")  # wheel install
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


# -- typed conversion --------------------------------------------------------------------------


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
    if dataclasses.is_dataclass(hint):
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
    try:
        return {"DataConfig": _data_config_class()}
    except ImportError:
        return {}
