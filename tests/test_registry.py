"""Registry behaviour: names, errors, build-time validation, plugins and built-in coverage."""

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import textwrap

import pytest

import dfshield
from dfshield.errors import ConfigError, UnknownNameError
from dfshield.registry import DETECTOR, LOSS, LOSSFUNC, REGISTRIES, Registry
from dfshield.registry import accepted_options as registry_options


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


def test_a_wrapped_entry_builds_as_its_wrapper_with_itself_as_an_option():
    registry, round_widget, square_widget = make_registry()

    @registry.register_module(module_name="box")
    class Box:
        def __init__(self, content, size=1):
            self.content, self.size = content, size

    registry.wrap(lambda entry: entry is square_widget, into="box", option="content")
    boxed = registry.build({"name": "SquareWidget", "size": 3})
    assert isinstance(boxed, Box) and boxed.content is square_widget and boxed.size == 3
    assert isinstance(registry.build({"name": "round_widget"}), round_widget)


def test_detectors_are_built_one_way(pytestconfig):
    """``build_detector`` is the one builder of detectors; ``DETECTOR.build`` is its body."""
    root, call = pytestconfig.rootpath, "DETECTOR" + ".build("  # not this line itself
    callers = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("dfshield", "tests", "benchmarks", "scripts")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if call in line and path != root / "dfshield/detectors/__init__.py"
    ]
    assert callers == [], f"build detectors with dfshield.detectors.build_detector: {callers}"


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


def test_unknown_name_says_how_to_make_user_code_known():
    with pytest.raises(UnknownNameError) as info:
        DETECTOR.get("my_head")
    message = str(info.value)
    assert "--import my_module_or_file.py" in message
    assert "imports: [my_module_or_file.py]" in message
    assert "entry-point group 'dfshield.detectors'" in message
    with pytest.raises(UnknownNameError, match="Did you mean 'spcup'"):
        DETECTOR.get("spcp")


def test_deepfakebench_access_patterns():
    # DeepfakeBench's train.py: DETECTOR[config['model_name']]; plus `in`, iteration and len()
    registry, round_widget, _ = make_registry()
    assert registry["round_widget"] is round_widget is registry.get("round_widget")
    assert "round_widget" in registry and "oval_widget" not in registry
    assert list(registry) == registry.names() == ["SquareWidget", "round_widget"]
    assert len(registry) == 2
    with pytest.raises(UnknownNameError) as info:
        registry["round_widgte"]
    assert "Did you mean 'round_widget'" in str(info.value)
    assert "SquareWidget" in str(info.value)


def test_builtin_registries_are_subscriptable_like_deepfakebench():
    assert DETECTOR["spcup"] is DETECTOR.get("spcup")
    assert LOSSFUNC["vs"] is LOSS.get("vs")
    assert "spcup" in DETECTOR and set(DETECTOR) == set(DETECTOR.names())
    assert len(DETECTOR) == len(DETECTOR.names()) > 0
    with pytest.raises(UnknownNameError, match="Did you mean 'spcup'.*--import"):
        DETECTOR["spcp"]


def test_deepfakebench_register_module_decorator_form():
    # their detectors: @DETECTOR.register_module(module_name="xception") returns the class as is
    registry = Registry("detector")

    @registry.register_module(module_name="xception")
    class XceptionDetector:
        def __init__(self, config):
            self.config = config

    assert isinstance(XceptionDetector, type) and XceptionDetector.__name__ == "XceptionDetector"
    model = registry["xception"]({"model_name": "xception"})
    assert isinstance(model, XceptionDetector) and model.config["model_name"] == "xception"


def test_missing_required_option_is_a_config_error():
    registry = Registry("widget")

    @registry.register_module(module_name="needy")
    class Needy:
        def __init__(self, size, colour="red", class_counts=None):
            self.size = size

    with pytest.raises(ConfigError, match=r"widget 'needy' needs the option\(s\) size"):
        registry.build({"name": "needy", "colour": "blue"}, class_counts={"real": 1})
    assert registry.build({"name": "needy", "size": 2}).size == 2


def test_describe_joins_a_wrapped_summary():
    registry = Registry("widget")

    @registry.register_module(module_name="long")
    class Long:
        """A summary that goes on
        over two lines.

        Details."""

    assert registry.describe("long") == "A summary that goes on over two lines."


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


@pytest.mark.slow
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


@pytest.mark.slow
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


# -- plugins from the command line and the config ----------------------------------------------
PLUGIN_FILE = textwrap.dedent('''
    """A user's loss in a loose file."""
    from dfshield.registry import LOSS

    @LOSS.register_module(module_name="{name}")
    class FileLoss:
        """Registered when the file is imported."""
''')


def plugin_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith(("dfshield_plugin_", "pkg_losses"))}


@pytest.fixture
def fresh_losses(monkeypatch):
    """LOSS with its built-ins; its entries and the imported plugin modules are restored after
    the test (plugins register into it)."""
    LOSS.names()
    monkeypatch.setattr(LOSS, "_entries", dict(LOSS._entries))
    before = plugin_modules()
    yield LOSS
    for name in plugin_modules() - before:
        del sys.modules[name]


def test_import_plugins_takes_files_and_module_names(tmp_path, monkeypatch, fresh_losses):
    from dfshield.plugins import import_plugins

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "my_loss.py").write_text(PLUGIN_FILE.format(name="file_loss_a"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "my_loss.py").write_text(PLUGIN_FILE.format(name="file_loss_b"))
    (tmp_path / "pkg_losses").mkdir()
    (tmp_path / "pkg_losses" / "__init__.py").write_text("")
    (tmp_path / "pkg_losses" / "extra.py").write_text(PLUGIN_FILE.format(name="module_loss"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    first, second, package = import_plugins(
        ["a/my_loss.py", str(tmp_path / "b" / "my_loss.py"), "pkg_losses.extra"]
    )
    assert first is not second  # same file name, two folders: two modules
    assert package.__name__ == "pkg_losses.extra"
    assert {"file_loss_a", "file_loss_b", "module_loss"} <= set(fresh_losses.names())
    # the same file again (--import and imports: both name it) is imported once, not re-registered
    assert import_plugins([str(tmp_path / "a" / "my_loss.py")]) == [first]


@pytest.mark.parametrize(
    "spec, content, match",
    [
        ("missing.py", None, r"plugin 'missing.py': no such file .*Give the path of a .py file"),
        ("no_such_pkg.detectors", None, r"no module named 'no_such_pkg'.*no_such_pkg/detectors.py"),
        (
            "broken.py",
            "x = 1\nraise ValueError('bad head')\n",
            r"'broken.py' failed at .*broken.py:2: ValueError: bad head",
        ),
        ("syntax.py", "def (:\n", r"'syntax.py' failed.*SyntaxError"),
        ("", None, "must be a module name"),
    ],
)
def test_a_bad_plugin_names_the_spec_and_the_fix(tmp_path, monkeypatch, spec, content, match):
    from dfshield.plugins import import_plugins

    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / spec).write_text(content)
    before = plugin_modules()
    with pytest.raises(ConfigError, match=match):
        import_plugins([spec])
    assert plugin_modules() == before  # a failed import leaves no half-made module behind


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_import_option_before_or_after_the_command(
    tmp_path, monkeypatch, capsys, fresh_losses, before
):
    from dfshield.cli import main

    name = f"cli_loss_{'before' if before else 'after'}"
    (tmp_path / "cli_loss.py").write_text(PLUGIN_FILE.format(name=name))
    (tmp_path / "other_loss.py").write_text(PLUGIN_FILE.format(name=name + "_2"))
    monkeypatch.chdir(tmp_path)
    imports = ["--import", "cli_loss.py"]
    argv = [*imports, "list", "losses"] if before else ["list", "losses", *imports]
    assert main(argv + ["--import", "other_loss.py"]) == 0
    out = capsys.readouterr().out
    assert f"  {name} " in out and f"  {name}_2 " in out


def test_a_failing_import_option_is_an_error_message(tmp_path, monkeypatch, capsys):
    from dfshield.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["--import", "nowhere.py", "list"]) == 2
    assert "error: cannot import plugin 'nowhere.py': no such file" in capsys.readouterr().err


#: values the trainer passes at build time, and the object a scheduler or optimizer steps:
#: never written in a config, so not documented as config options
NOT_OPTIONS = {"class_counts", "optimizer", "params", "steps_per_epoch", "epochs"}


def test_every_config_option_of_a_builtin_is_documented_by_name():
    # README: "every option is documented once, in the docstring of the class that uses it"
    # (its class or __init__ docstring, or its module's); torch's own optimizers excepted
    undocumented = []
    for registry in REGISTRIES.values():
        for name in registry.names():
            entry = registry.get(name)
            if not inspect.isclass(entry) or not entry.__module__.startswith("dfshield."):
                continue
            own = [c for c in entry.__mro__ if c.__module__.startswith("dfshield.")]
            text = " ".join(
                (c.__doc__ or "")
                + (c.__dict__["__init__"].__doc__ or "" if "__init__" in c.__dict__ else "")
                + (sys.modules[c.__module__].__doc__ or "")
                for c in own
            )
            options, _ = registry_options(entry)
            undocumented += [
                f"{registry.name} {name!r}: {option}"
                for option in sorted(options - NOT_OPTIONS)
                if f"``{option}``" not in text
                and not re.search(rf"^\s*[\w, ]*\b{option}\b[\w, ]*:", text, re.MULTILINE)
            ]
    assert not undocumented, undocumented
