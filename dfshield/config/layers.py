"""Config layers: YAML files with ``_base_`` inheritance, ``--set`` overrides, and the one merge
rule that puts them together (described with an example in :mod:`dfshield.config`'s docstring)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from dfshield.errors import ConfigError
from dfshield.schema import Indexed
from dfshield.yaml_files import read_yaml

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML config mapping with its ``_base_`` files merged in (see the module docstring).

    An empty file is an empty mapping; ``.py`` entries of ``imports`` become absolute paths.
    """
    return _resolve(Path(path), ())[0]


def _resolve(path: Path, chain: tuple[Path, ...]) -> tuple[dict, list[Path]]:
    """``path``'s mapping merged over its ``_base_`` files, and those files (ancestors first)."""
    here = path.resolve()
    if here in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(here) :], here))
        raise ConfigError(f"_base_ files form a cycle: {cycle}; remove one of these _base_ entries")
    data = read_yaml(path)
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
    """``child`` merged over ``parent`` by :func:`merge`; their ``imports`` lists add up."""
    imports = _add_imports(parent.get("imports"), child.get("imports"))
    result = merge(parent, child)
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
            name: Any = int(part) if isinstance(node, Indexed) else part
            if depth == len(parts) - 1:
                node[name] = value
                break
            indexed = parts[depth + 1].isdigit()
            if name not in node:
                node[name] = Indexed(".".join(parts[: depth + 1])) if indexed else {}
            node = node[name]
            if not isinstance(node, dict) or isinstance(node, Indexed) != indexed:
                raise ConfigError(f"--set {item!r} conflicts with another --set of '{part}'")
    return result


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base``: the one rule of layers and ``_base_``.

    A mapping of ``override`` replaces the one in ``base`` when its ``name`` differs or it says
    ``_delete_: true`` (the key itself is dropped); otherwise they merge key by key.
    """
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Indexed):
            result[key] = _patch_list(result.get(key), value)
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
        if _delete(value) or not isinstance(old, dict) or renamed:
            old = {}
        result[key] = merge(old, {k: v for k, v in value.items() if k != DELETE_KEY})
    return result


def _patch_list(old: Any, patch: Indexed) -> list:
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
        items[index] = merge({"item": items[index]}, {"item": value})["item"]
    return items


def _delete(mapping: dict) -> bool:
    value = mapping.get(DELETE_KEY, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{DELETE_KEY} must be true or false, got {value!r}")
    return value


def file_layer(path: Path) -> tuple[str, dict]:
    """``(source, mapping)`` of a YAML file; the source names the ``_base_`` files too."""
    data, ancestors = _resolve(path, ())
    if not ancestors:
        return str(path), data
    return f"{path} (with _base_ {', '.join(map(str, ancestors))})", data
