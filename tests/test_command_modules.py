"""Commands are thin wrappers (argparse, one call into the library, printing): each sub-command
lives in ``dfshield/commands/`` and stays short, so that its logic is in the library where other
code and tests can use it."""

from __future__ import annotations

from pathlib import Path

import dfshield.commands
from dfshield.cli import COMMANDS

LIMIT = 100  # lines, all counted


def test_every_command_module_is_short():
    folder = Path(dfshield.commands.__file__).parent
    lengths = {path.name: len(path.read_text().splitlines()) for path in folder.glob("*.py")}
    assert len(lengths) > 5
    too_long = {name: n for name, n in lengths.items() if n > LIMIT}
    assert not too_long, f"move their logic into the library (limit {LIMIT} lines): {too_long}"


def test_every_command_is_a_commands_module():
    outside = {
        name: module
        for name, (module, _) in COMMANDS.items()
        if not module.startswith("dfshield.commands.") and module != "dfshield.cli"
    }
    assert not outside, f"argparse of these commands lives outside dfshield.commands: {outside}"
