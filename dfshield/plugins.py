"""Import user code that registers detectors, losses or optimizers, by module name or file path.

Registering happens on import, so ``--import my_head.py`` or ``imports: [my_head.py]`` imports it
first. A ``.py`` file is imported under a name derived from its resolved path, so two files with one
name do not collide and one file imported twice runs once. Code named by a saved config is never
imported on its own (:func:`check_saved_imports`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dfshield.errors import ConfigError

_TRUST_SAVED = [False]  # set by --trust-imports (trust_saved_imports)


def import_plugins(specs: Sequence[str]) -> list[ModuleType]:
    """Import every spec (a module name or a ``.py`` file) in order; return the modules."""
    return [import_plugin(spec) for spec in specs]


def import_plugin(spec: str) -> ModuleType:
    """Import one module name or ``.py`` file; a missing or failing one is a ConfigError."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(
            f"a plugin to import must be a module name (my_pkg.detectors) or the path of a .py "
            f"file (my_head.py), got {spec!r}"
        )
    spec = spec.strip()
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return _import_file(spec)
    return _import_module(spec)


def _import_module(spec: str) -> ModuleType:
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name is not None and (spec + ".").startswith(error.name + "."):  # spec missing
            raise ConfigError(
                f"cannot import plugin '{spec}': no module named '{error.name}' on the Python "
                f"path. Give the path of its file instead (e.g. --import {spec.replace('.', '/')}"
                f".py), install its package, or add its folder to PYTHONPATH"
            ) from error
        raise _failed(spec, error) from error
    except Exception as error:  # any error inside the plugin: report where it happened
        raise _failed(spec, error) from error


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"cannot import plugin '{spec}': no such file ({path.absolute()}). Give the path of "
            f"a .py file, relative to the current folder or absolute, or a module name"
        )
    path = path.resolve()
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot import plugin '{spec}': {path} is not a Python source file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # as ``import`` does: dataclasses and pickling look it up there
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise _failed(spec, error, path) from error
    return module


def _module_name(path: Path) -> str:
    """A module name unique to the file: its stem plus a digest of its resolved path."""
    stem = re.sub(r"\W", "_", path.stem)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"dfshield_plugin_{stem}_{digest}"


def _failed(spec: str, error: Exception, path: Path | None = None) -> ConfigError:
    """The error of a plugin whose own code raised, at its deepest line in the plugin's file."""
    frames = list(traceback.extract_tb(error.__traceback__))
    own = [frame for frame in frames if path is not None and frame.filename == str(path)]
    where = ""
    if own or frames:
        frame = (own or frames)[-1]
        where = f" at {frame.filename}:{frame.lineno}"
    return ConfigError(
        f"importing plugin '{spec}' failed{where}: {type(error).__name__}: {error}. "
        f"Fix that error in the plugin and run again"
    )


def trust_saved_imports(trust: bool = True) -> None:
    """Let saved configs import the code they name (``--trust-imports``)."""
    _TRUST_SAVED[0] = trust


def check_saved_imports(config: object, source: str) -> None:
    """Refuse a saved config whose ``imports`` name code not imported yet (reading a file must not
    run code), unless passed again with ``--import`` or after :func:`trust_saved_imports`."""
    specs = config.get("imports") if isinstance(config, dict) else None
    if not specs or _TRUST_SAVED[0]:
        return
    if not isinstance(specs, list):
        raise ConfigError(f"{source}: 'imports' must be a list of modules or .py files")
    missing = [spec for spec in specs if not _imported(spec)]
    if missing:
        again = " ".join(f"--import {spec}" for spec in missing)
        raise ConfigError(
            f"{source} names code to import: {', '.join(map(repr, missing))}. dfshield does not "
            f"run code named by a file it reads. If you trust that code, pass it again ({again}) "
            f"or add --trust-imports"
        )


def _imported(spec: object) -> bool:
    if not isinstance(spec, str) or not spec.strip():
        return False
    spec = spec.strip()
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return _module_name(Path(spec).expanduser().resolve()) in sys.modules
    return spec in sys.modules
