"""Registries of named building blocks, in the style of DeepfakeBench's ``register_module``.

Register with ``@LOSS.register_module(module_name="my_loss")``, build with ``LOSS.build({"name":
"my_loss", ...})``; ``DETECTOR[name]``, ``in``, iteration and ``len`` work as in DeepfakeBench.
Built-ins are imported on first read; user code registers when imported (``--import``,
``imports:``), installed packages through the entry-point groups ``dfshield.detectors``,
``dfshield.losses`` and ``dfshield.optimizers``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, UnknownNameError


class Registry:
    """A mapping from names to classes (or factories) with helpful errors.

    ``register_entry_classes`` registers a class an entry point names under the entry point's name
    (off for registries sharing another's group).
    """

    def __init__(
        self,
        name: str,
        builtin_package: str | None = None,
        entry_point_group: str | None = None,
        register_entry_classes: bool = True,
    ):
        self.name = name
        self._register_entry_classes = register_entry_classes
        self._builtin_package = builtin_package
        self._entry_point_group = entry_point_group
        self._entries: dict[str, Any] = {}
        self._wrappers: list[tuple[Callable[[Any], bool], str, str]] = []
        self._loaded = builtin_package is None and entry_point_group is None

    # -- registration ---------------------------------------------------------------------
    def register_module(
        self, module_name: str | None = None, force: bool = False, module: Any = None
    ) -> Callable[[Any], Any] | Any:
        """Register ``module`` (or, as a decorator, the class) under a name (default: its own). A
        taken name is an error unless ``force=True``, which replaces the entry."""
        if module is not None:
            self._add(module_name or module.__name__, module, force)
            return module

        def decorator(cls: Any) -> Any:
            self._add(module_name or cls.__name__, cls, force)
            return cls

        return decorator

    def _add(self, name: str, obj: Any, force: bool) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{self.name} registry: a name must be a non-empty string, got {name!r}"
            )
        existing = self._entries.get(name)
        if existing is not None and existing is not obj and not force:
            raise ConfigError(
                f"{self.name} registry: the name '{name}' is already taken by "
                f"{_qualname(existing)}; pick another name or pass force=True to replace it"
            )
        self._entries[name] = obj

    def wrap(self, accepts: Callable[[Any], bool], into: str, option: str) -> None:
        """Build every entry for which ``accepts(entry)`` holds as ``into``, given it as ``option``.
        ``DETECTOR`` wraps DeepfakeBench-style classes so: ``{name: xception}`` builds ``{name:
        deepfakebench, class: <xception>}``."""
        self._wrappers.append((accepts, into, option))

    # -- lookup ---------------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """The entry registered as ``name``; an unknown name lists every registered one."""
        self._load()
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.name} '{name}'.{did_you_mean(name, self._entries)} "
                f"Registered {self.name} names: {', '.join(sorted(self._entries)) or '(none)'}. "
                f"{self._how_to_add(name)}"
            )
        return self._entries[name]

    def _how_to_add(self, name: str) -> str:
        """The two ways to make user code known, for the unknown-name error."""
        packaged = (
            f", or install a package that declares it in the entry-point group "
            f"'{self._entry_point_group}'"
            if self._entry_point_group
            else ""
        )
        return (
            f"If '{name}' is your own {self.name}, import the module that registers it: "
            f"--import my_module_or_file.py on the command line (or imports: "
            f"[my_module_or_file.py] in the config){packaged}"
        )

    def build(self, cfg: dict, **context: Any) -> Any:
        """Instantiate the entry named by ``cfg["name"]`` with the remaining keys. Each ``context``
        value (e.g. training class counts) reaches only constructors that accept it. An unknown or
        missing key is an error that lists the accepted ones."""
        name, kwargs, factory = self._entry(cfg)
        for accepts, into, option in self._wrappers:
            if accepts(factory):
                return self.build({**kwargs, "name": into, option: factory}, **context)
        accepted, takes_any = self._check_options(name, factory, kwargs, hidden=context)
        for key, value in context.items():
            if key not in kwargs and (takes_any or key in accepted):
                kwargs[key] = value
        self._require(name, factory, kwargs)
        return factory(**kwargs)

    def check(self, cfg: dict, build_time: Mapping[str, str] | None = None) -> Any:
        """Check ``cfg`` as :meth:`build` does, without building; return the registered entry.
        ``build_time`` names the values the builder passes itself; a config may not set them."""
        build_time = build_time or {}
        name, kwargs, factory = self._entry(cfg)
        for key in kwargs:
            if key in build_time:
                raise ConfigError(
                    f"{self.name} '{name}': '{key}' is not a config option: it is "
                    f"{build_time[key]}; remove it from the config"
                )
        self._check_options(name, factory, kwargs, hidden=build_time)
        self._require(name, factory, {**kwargs, **dict.fromkeys(build_time)})
        return factory

    def _require(self, name: str, factory: Any, kwargs: Mapping[str, Any]) -> None:
        """A ConfigError naming the constructor options without a default that ``kwargs`` lacks."""
        missing = sorted(required_options(factory) - set(kwargs))
        if missing:
            raise ConfigError(
                f"{self.name} '{name}' needs the option(s) {', '.join(missing)} (no default); "
                f"add them to the {self.name} section of the config (a section whose name "
                f"changes in a _base_ file or --set starts afresh)"
            )

    def _entry(self, cfg: dict) -> tuple[str, dict, Any]:
        """``(name, options, entry)`` of a config mapping with a ``name`` key."""
        if not isinstance(cfg, dict):
            raise ConfigError(
                f"a {self.name} config must be a mapping with a 'name' key, got {cfg!r}"
            )
        if "name" not in cfg:
            raise ConfigError(
                f"a {self.name} config needs a 'name' key; got keys {sorted(cfg)}. "
                f"Registered {self.name} names: {', '.join(self.names())}"
            )
        kwargs = dict(cfg)
        name = kwargs.pop("name")
        if not isinstance(name, str):
            raise ConfigError(f"a {self.name} config's 'name' must be a string, got {name!r}")
        return name, kwargs, self.get(name)

    def _check_options(
        self, name: str, factory: Any, kwargs: dict, hidden: Mapping[str, Any]
    ) -> tuple[set[str], bool]:
        """Reject keys the constructor does not take; ``hidden`` names are not listed."""
        accepted, takes_any = accepted_options(factory)
        if not takes_any:
            options = sorted(accepted - set(hidden))
            for key in kwargs:
                if key not in accepted:
                    raise ConfigError(
                        f"{self.name} '{name}' has no option '{key}'.{did_you_mean(key, options)} "
                        f"Its options: {', '.join(options) or '(none)'}"
                    )
        return accepted, takes_any

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """The entry's docstring's first paragraph on one line (what ``dfshield list`` prints)."""
        doc = (inspect.getdoc(self.get(name)) or "").strip()
        return " ".join(doc.split("\n\n")[0].split()) if doc else "(no description)"

    def __getitem__(self, name: str) -> Any:
        """``DETECTOR[name]``, DeepfakeBench's lookup: the same as :meth:`get`."""
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, entries={sorted(self._entries)})"

    # -- built-ins and plugins ------------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # set first: importing the package registers into this registry
        if self._builtin_package:
            importlib.import_module(self._builtin_package)
        if self._entry_point_group:
            self.load_plugins()

    def load_plugins(self) -> list[str]:
        """Import every entry point of this registry's group; return the names it provided."""
        if not self._entry_point_group:
            return []
        provided = []
        for entry_point in importlib.metadata.entry_points(group=self._entry_point_group):
            try:
                obj = entry_point.load()
            except Exception as error:  # a broken plugin must not pass silently
                raise ConfigError(
                    f"the {self.name} plugin '{entry_point.name}' ({entry_point.value}) failed "
                    f"to import: {error}. Fix or uninstall the package that provides it"
                ) from error
            if self._register_entry_classes and callable(obj) and not inspect.ismodule(obj):
                if obj not in self._entries.values():
                    self._add(entry_point.name, obj, force=False)
            provided.append(entry_point.name)
        return provided


_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _signature(factory: Any) -> inspect.Signature | None:
    """The constructor's (or factory function's) signature; None when it cannot be read."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def accepted_options(factory: Any) -> tuple[set[str], bool]:
    """Keyword names a registered factory accepts, and whether it takes ``**kwargs``."""
    signature = _signature(factory)
    if signature is None:
        return set(), True
    names, takes_any = set(), False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any = True
        elif parameter.name != "self" and parameter.kind in _KEYWORD_KINDS:
            names.add(parameter.name)
    return names, takes_any


def required_options(factory: Any) -> set[str]:
    """Keyword names a registered factory cannot do without (no default value)."""
    signature = _signature(factory)
    if signature is None:
        return set()
    return {
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.name != "self"
        and parameter.kind in _KEYWORD_KINDS
        and parameter.default is inspect.Parameter.empty
    }


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


DETECTOR = Registry("detector", "dfshield.detectors", "dfshield.detectors")
BACKBONE = Registry(
    "backbone", "dfshield.detectors", "dfshield.detectors", register_entry_classes=False
)
LOSS = Registry("loss", "dfshield.losses", "dfshield.losses")
LOSSFUNC = LOSS  # DeepfakeBench's name for the loss registry
OPTIMIZER = Registry("optimizer", "dfshield.optimizers", "dfshield.optimizers")
SCHEDULER = Registry(
    "scheduler", "dfshield.optimizers", "dfshield.optimizers", register_entry_classes=False
)

REGISTRIES = {
    "detectors": DETECTOR,
    "backbones": BACKBONE,
    "losses": LOSS,
    "optimizers": OPTIMIZER,
    "schedulers": SCHEDULER,
}
