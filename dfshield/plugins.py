"""Importing user code before a config is read: ``--import`` and the ``imports:`` config key.

A plugin is a module name (``my_pkg.heads``, found on ``sys.path``) or a ``.py`` file; importing
it runs its ``@DETECTOR.register_module(...)`` decorators, so the names it registers can be used
in a config. A file is imported under a module name derived from its resolved path, so importing
the same file twice (several configs of one comparison) runs it once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dfshield.errors import ConfigError


def import_plugins(specs: Sequence[str]) -> list[ModuleType]:
    """Import each module name or ``.py`` file in ``specs``; a failure names the spec."""
    return [_import_file(spec) if spec.endswith(".py") else _import_module(spec) for spec in specs]


def _import_module(spec: str) -> ModuleType:
    try:
        return importlib.import_module(spec)
    except Exception as error:  # a broken plugin must not pass silently
        raise ConfigError(
            f"cannot import the plugin module '{spec}': {error}. Check that it is installed or "
            f"on PYTHONPATH, or give the path of a .py file"
        ) from error


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"plugin file '{spec}' not found (looked for {path})")
    name = f"dfshield_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"plugin file '{spec}' cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ConfigError(f"the plugin file '{spec}' failed to import: {error}") from error
    return module
