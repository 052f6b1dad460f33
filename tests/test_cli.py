"""The ``dfshield`` entry point (dfshield/cli.py): the library's log lines reach the user."""

from __future__ import annotations

import logging
import subprocess
import sys
import types

import pytest

from dfshield import cli


@pytest.fixture
def logging_command(monkeypatch) -> None:
    """A sub-command ``log`` that writes a debug, an info and a warning line."""
    module = types.ModuleType("dfshield_test_log_command")

    def run(args) -> int:
        logger = logging.getLogger("dfshield.studies.example")
        logger.debug("debug line")
        logger.info("info line")
        logger.warning("warning line")
        return 0

    module.add_arguments = lambda parser: None
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "log", (module.__name__, "write log lines"))


@pytest.mark.parametrize(
    ("argv", "shown", "hidden"),
    [
        (["log"], ["INFO: info line", "WARNING: warning line"], ["debug line"]),
        (["-q", "log"], ["WARNING: warning line"], ["info line", "debug line"]),
        (["log", "--quiet"], ["WARNING: warning line"], ["info line", "debug line"]),
        (["log", "-v"], ["DEBUG: debug line", "INFO: info line"], []),
    ],
)
def test_info_lines_reach_the_user_unless_quiet(logging_command, capsys, argv, shown, hidden):
    package = logging.getLogger("dfshield")
    handlers, level = list(package.handlers), package.level
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    for line in shown:
        assert line in err, err
    for line in hidden:
        assert line not in err, err
    assert package.handlers == handlers and package.level == level  # put back afterwards


def test_each_line_is_written_once_when_a_library_configured_the_root_logger(
    logging_command, capsys
):
    """open_clip's ``logging.warning(...)`` gives the root logger a stderr handler; dfshield's
    lines must not be written a second time through it."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)  # what logging.basicConfig() adds
    root.addHandler(handler)
    try:
        assert cli.main(["log"]) == 0
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    assert err.count("info line") == 1, err
    assert err.count("warning line") == 1, err
    assert logging.getLogger("dfshield").propagate  # put back afterwards


def test_python_m_dfshield_is_the_dfshield_command():
    done = subprocess.run(
        [sys.executable, "-m", "dfshield", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dfshield ")
