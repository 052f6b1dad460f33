"""The ``dfshield`` command line: one module per sub-command, imported lazily so ``--help`` is fast.
While a command runs, the ``dfshield.*`` log lines go to stderr (``-q``: warnings, ``-v``:
debug).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Iterator

from dfshield import __version__
from dfshield.errors import DfshieldError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "dfshield.commands.demo",
        "the main job on the embedded demo data: compare three detectors",
    ),
    "list": (
        "dfshield.cli",
        "list every registered detector, backbone, loss, optimizer and scheduler",
    ),
    "train": ("dfshield.commands.train", "train one detector, select on validation, test"),
    "test": ("dfshield.commands.test", "evaluate a checkpoint on a test split"),
    "compare": ("dfshield.commands.compare", "train and test several detectors under one protocol"),
    "imbalance": (
        "dfshield.commands.imbalance",
        "compare detectors at several real:fake training ratios (mean ± std over seeds)",
    ),
    "reproduce": ("dfshield.commands.reproduce", "re-run a published table; ours beside theirs"),
    "report": (
        "dfshield.commands.report",
        "one self-contained HTML report of a run folder, or a leaderboard across several",
    ),
    "extract": ("dfshield.commands.extract", "encode every frame once into the feature bank"),
    "config": ("dfshield.commands.config", "print the merged, checked run config as YAML"),
    "demo-data": (
        "dfshield.commands.demo_data",
        "make the synthetic demo dataset (DeepfakeBench format)",
    ),
    "build-lmdb": (
        "dfshield.commands.build_lmdb",
        "build a DeepfakeBench dataset from images or videos",
    ),
    "predict": (
        "dfshield.commands.predict",
        "score images, folders and videos with a trained checkpoint",
    ),
    "robustness": (
        "dfshield.commands.robustness",
        "re-test checkpoints under JPEG, blur, downscaling and noise",
    ),
    "export": (
        "dfshield.commands.export",
        "write a checkpoint in DeepfakeBench's format (the state_dict their test.py loads)",
    ),
    "data-info": (
        "dfshield.commands.data_info",
        "check a dataset set-up: counts, missing and undecodable frames",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dfshield list``."""
    parser.add_argument("registry", nargs="?", help="only this registry (e.g. losses)")


def run(args: argparse.Namespace) -> int:
    """``dfshield list``: one line per entry, name and description."""
    from dfshield.registry import REGISTRIES

    selected = REGISTRIES
    if args.registry:
        if args.registry not in REGISTRIES:
            from dfshield._suggest import did_you_mean

            suggestion = did_you_mean(args.registry, REGISTRIES)
            print(
                f"error: unknown registry '{args.registry}'.{suggestion}"
                f" Registries: {', '.join(REGISTRIES)}",
                file=sys.stderr,
            )
            return 2
        selected = {args.registry: REGISTRIES[args.registry]}
    for title, registry in selected.items():
        names = registry.names()
        print(f"{title} ({len(names)})")
        width = max((len(n) for n in names), default=0)
        for name in names:
            print(f"  {name:<{width}}  {registry.describe(name)}")
    return 0


def add_import_option(parser: argparse.ArgumentParser, dest: str) -> None:
    """``--import`` (repeatable) and ``--trust-imports``, accepted before or after the command."""
    parser.add_argument(
        "--import",
        dest=dest,
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import a module (my_pkg.detectors) or .py file (my_head.py) that registers "
        "detectors, losses or optimizers before the command runs (repeatable)",
    )
    parser.add_argument(
        "--trust-imports",
        dest=f"{dest}_trusted",
        action="store_true",
        help="import the code that a checkpoint or run folder names in its saved config "
        "(without it, such code must be passed again with --import)",
    )


def add_verbosity_options(parser: argparse.ArgumentParser, dest: str) -> None:
    """``-q`` / ``-v``, accepted before and after the sub-command: the level of the log lines."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        dest=dest,
        action="store_const",
        const=logging.WARNING,
        help="show only warnings and errors, not the info lines",
    )
    group.add_argument(
        "-v",
        "--verbose",
        dest=dest,
        action="store_const",
        const=logging.DEBUG,
        help="show debug lines too",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfshield", description="Imbalance-robust deepfake detectors for DeepfakeBench data."
    )
    parser.add_argument("--version", action="version", version=f"dfshield {__version__}")
    # two destinations: a sub-command's defaults would overwrite the main parser's list
    add_import_option(parser, "imports")
    add_verbosity_options(parser, "log_level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        add_import_option(sub, "command_imports")
        add_verbosity_options(sub, "command_log_level")
        sub.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    level = args.command_log_level or args.log_level or logging.INFO
    with log_to_stderr(level):
        try:
            from dfshield.plugins import import_plugins, trust_saved_imports

            import_plugins([*args.imports, *args.command_imports])
            trust_saved_imports(args.imports_trusted or args.command_imports_trusted)
            return int(importlib.import_module(args._module).run(args) or 0)
        except DfshieldError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


@contextlib.contextmanager
def log_to_stderr(level: int) -> Iterator[None]:
    """Within: the ``dfshield`` loggers' lines of ``level`` and above go to stderr, once. Not also
    through the root logger, which a library may have configured (open_clip's does)."""
    package = logging.getLogger("dfshield")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    saved = package.level, package.propagate
    package.addHandler(handler)
    package.setLevel(level)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


if __name__ == "__main__":
    sys.exit(main())
