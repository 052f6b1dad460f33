"""Reading YAML safely (``yaml.SafeLoader`` only) and strictly: a key written twice in one mapping
is an error naming it and its line (PyYAML keeps the last value silently). DeepfakeBench's YAMLs
are read as their loader reads them (``repeated_keys="last"``, with a warning).
"""

from __future__ import annotations

import os
import typing
import warnings
from pathlib import Path
from typing import Any

import yaml

from dfshield.errors import ConfigError


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
                    self.repeated(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def repeated(self, key: Any, line: int) -> None:
        raise _DuplicateKeyError(key, line)


class _LastKeyLoader(_UniqueKeyLoader):
    """PyYAML's own rule (the last value of a repeated key wins), with the repeats noted."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.repeats: list[tuple[Any, int]] = []

    def repeated(self, key: Any, line: int) -> None:
        self.repeats.append((key, line))


def read_yaml(path: str | os.PathLike, *, repeated_keys: str = "error") -> dict:
    """One YAML file as a mapping (an empty file is an empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if repeated_keys not in ("error", "last"):
        raise ValueError(f"repeated_keys must be 'error' or 'last', got {repeated_keys!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {error.start} is {error.object[error.start]:#04x}); "
            f"save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 {path} > fixed.yaml)"
        ) from None
    loader = (_UniqueKeyLoader if repeated_keys == "error" else _LastKeyLoader)(text)
    try:
        data = loader.get_single_data()
        if isinstance(loader, _LastKeyLoader) and loader.repeats:
            repeats = ", ".join(f"'{key}' (line {line})" for key, line in loader.repeats)
            warnings.warn(
                f"{path} repeats {repeats}: the last value is used, as DeepfakeBench's loader "
                f"does; remove the earlier one to silence this",
                stacklevel=2,
            )
    except _DuplicateKeyError as error:
        raise ConfigError(
            f"duplicate key '{error.key}' in {path} (line {error.line}): YAML would keep only the "
            f"last value; keep one of them"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of keys to values, got {type(data).__name__}"
        )
    return data
