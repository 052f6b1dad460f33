"""Registry behaviour: names, errors, build-time validation, plugins and built-in coverage."""

import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import dfshield
from dfshield.errors import ConfigError, UnknownNameError
from dfshield.registry import LOSS, LOSSFUNC, REGISTRIES, Registry


def make_registry():
    registry = Registry("widget")

    @registry.register_module(module_name="round_widget")
    class RoundWidget:
        """A widget that is round."""

        def __init__(self, radius=1.0, class_counts=None):
            self.radius, self.class_counts = radius, class_counts

    @registry.register_module()
    class SquareWidget:
        """A widget with corners."""

        def __init__(self, side=2):
            self.side = side

    return registry, RoundWidget, SquareWidget


def test_register_and_build_with_options_and_context():
    registry, round_widget, square_widget = make_registry()
    built = registry.build(
        {"name": "round_widget", "radius": 3.0}, class_counts={"real": 5, "fake": 1}
    )
    assert isinstance(built, round_widget) and built.radius == 3.0
    assert built.class_counts == {"real": 5, "fake": 1}
    # context only reaches constructors that accept it
    square = registry.build({"name": "SquareWidget"}, class_counts={"real": 5, "fake": 1})
    assert isinstance(square, square_widget) and square.side == 2
    assert registry.names() == ["SquareWidget", "round_widget"]
    assert registry.describe("round_widget") == "A widget that is round."


def test_duplicate_name_is_an_error_unless_forced():
    registry, _, _ = make_registry()
    with pytest.raises(ConfigError, match="already taken"):
        registry.register_module(module_name="round_widget", module=type("Other", (), {}))
    replacement = type("Replacement", (), {})
    registry.register_module(module_name="round_widget", force=True, module=replacement)
    assert registry.get("round_widget") is replacement


def test_unknown_name_lists_names_and_closest_match():
    registry, _, _ = make_registry()
    with pytest.raises(UnknownNameError) as info:
        registry.get("round_widgte")
    message = str(info.value)
    assert "Did you mean 'round_widget'" in message
    assert "SquareWidget" in message and "round_widget" in message


def test_unknown_option_names_the_key_and_suggests():
    registry, _, _ = make_registry()
    with pytest.raises(ConfigError, match=r"no option 'raduis'.*Did you mean 'radius'"):
        registry.build({"name": "round_widget", "raduis": 2})
    with pytest.raises(ConfigError, match="needs a 'name' key"):
        registry.build({"radius": 2})


def test_loss_alias_is_the_same_registry():
    assert LOSSFUNC is LOSS


PLUGIN_SETUP = textwrap.dedent("""
    from setuptools import setup
    setup(name="dfshield-test-plugin", version="0.0.1", py_modules=["dfshield_test_plugin"],
          entry_points={"dfshield.losses": ["plugin_module = dfshield_test_plugin",
                                             "plugin_class = dfshield_test_plugin:BareLoss"]})
""")
PLUGIN_MODULE = textwrap.dedent('''
    """A third-party package that adds losses to dfshield."""
    from dfshield.registry import LOSS

    @LOSS.register_module(module_name="decorated_plugin_loss")
    class DecoratedLoss:
        """Registered by its own decorator when the module is imported."""

    class BareLoss:
        """Registered under its entry-point name."""
''')


def test_entry_point_plugin_from_an_installed_package(tmp_path, monkeypatch):
    source, target = tmp_path / "src", tmp_path / "site"
    source.mkdir()
    (source / "setup.py").write_text(PLUGIN_SETUP)
    (source / "dfshield_test_plugin.py").write_text(PLUGIN_MODULE)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    registry = Registry("loss", entry_point_group="dfshield.losses")
    monkeypatch.setattr("dfshield.registry.LOSS", registry)  # the plugin decorates "LOSS"
    provided = registry.load_plugins()
    assert sorted(provided) == ["plugin_class", "plugin_module"]
    assert "decorated_plugin_loss" in registry
    assert registry.get("plugin_class").__name__ == "BareLoss"
    sys.modules.pop("dfshield_test_plugin", None)


def test_broken_plugin_is_a_clear_error(tmp_path, monkeypatch):
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dfshield.optimizers]\nbroken = no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(ConfigError, match="plugin 'broken'.*failed to import"):
        Registry("optimizer", entry_point_group="dfshield.optimizers").load_plugins()


def _package_modules(package_name):
    package = importlib.import_module(package_name)
    yield package
    for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
        yield importlib.import_module(info.name)


@pytest.mark.parametrize(
    "package_name", ["dfshield.detectors", "dfshield.losses", "dfshield.optimizers"]
)
def test_every_builtin_class_is_registered(package_name):
    registered = {
        id(obj)
        for registry in REGISTRIES.values()
        for obj in (registry.get(name) for name in registry.names())
    }
    unregistered = []
    for module in _package_modules(package_name):
        for name, obj in vars(module).items():
            abstract = inspect.isclass(obj) and inspect.isabstract(obj)  # interfaces, not entries
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and not abstract
                and id(obj) not in registered
            ):
                unregistered.append(f"{module.__name__}.{name}")
    assert not unregistered, f"classes defined but not registered: {unregistered}"


def test_builtins_are_registered_on_first_use():
    # a fresh interpreter: reading the registry imports the built-in package
    code = "from dfshield.registry import OPTIMIZER; print(len(OPTIMIZER.names()))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert int(out.stdout) > 0


@pytest.mark.e2e
def test_dfshield_list_prints_every_registry(capsys):
    from dfshield.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for title in REGISTRIES:
        assert out.count(f"{title} (") == 1
    assert dfshield.__version__
