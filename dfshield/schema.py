"""The one converter of YAML mappings into typed config dataclasses (``RunConfig``, ``DataConfig``).

Keys and value types are checked, and an error names the key, its source and the closest key.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any, Literal, Union

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError


class Indexed(dict):
    """``{index: value}`` set by a ``--set`` path (``loss.terms.0.alpha``), applied at merge."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path


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
    hints = typing.get_type_hints(cls)
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
        if isinstance(value, Indexed):  # items picked by --set: each checked, merged later
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
