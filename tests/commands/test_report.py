"""``dfshield report`` from the command line, and the demo's report in a real browser."""

from __future__ import annotations

import pytest

from dfshield.cli import main
from tests.browser import Browser, chromium_binary
from tests.helpers import write_comparison

PAGE_LIMIT = 2_000_000  # bytes: the demo's report must stay under 2 MB


def test_report_writes_one_page_into_the_run_folder(tmp_path, capsys):
    folder = write_comparison(tmp_path / "cmp", detectors=("alpha",))
    assert main(["report", str(folder), "--feature-map", "none"]) == 0
    assert (folder / "report.html").is_file()
    assert "self-contained" in capsys.readouterr().out


def test_report_of_several_folders_goes_where_asked(tmp_path):
    first = write_comparison(tmp_path / "a", detectors=("alpha",))
    second = write_comparison(tmp_path / "b", detectors=("beta",))
    out = tmp_path / "board" / "leaderboard.html"
    assert main(["report", str(first), str(second), "-o", str(out), "--feature-map", "none"]) == 0
    assert 'id="leaderboard"' in out.read_text()


def test_a_missing_folder_is_exit_2_with_the_fix(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder; give the run folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["compare", "imbalance", "reproduce", "demo"])
def test_studies_accept_no_report(command):
    from dfshield.cli import build_parser

    needed = {"compare": ["--detectors", "a"], "imbalance": ["--ratios", "1"], "reproduce": ["x"]}
    extra = needed.get(command, [])
    args = build_parser().parse_args([command, *extra, "--no-report"])
    assert args.report is False
    assert build_parser().parse_args([command, *extra]).report is True


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """One short demo whose report.html the browser test opens: a fifth of the demo data and 2
    epochs, so that it takes about 15 s on 2 cores (the full demo's report weighs about 0.25 MB,
    docs/report.md)."""
    tmp = tmp_path_factory.mktemp("demo")
    run_dir = tmp / "run"
    sizes = ["--train", "120,12", "--val", "40,4", "--test", "40,4", "--no-progress"]
    assert main(["demo-data", str(tmp / "data"), *sizes]) == 0
    code = main(
        ["demo", "--data-dir", str(tmp / "data"), "--run-dir", str(run_dir)]
        + ["--set", "train.epochs=2", "--set", "train.progress=false"]
        + ["--set", f"train.output_dir={tmp / 'runs'}"]
    )
    assert code == 0
    return run_dir / "report.html"


@pytest.mark.slow
@pytest.mark.e2e
def test_the_demo_report_works_in_headless_chromium(demo_report):
    binary = chromium_binary()
    if binary is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install chromium; .ci/run "
            "installs it where apt is available)"
        )
    size = demo_report.stat().st_size
    assert size < PAGE_LIMIT, f"the demo's report weighs {size} bytes"
    with Browser(binary) as browser:
        browser.open(demo_report)
        decoded = browser.evaluate(
            "Promise.all(Array.from(document.images).map("
            "i => i.decode().then(() => i.naturalWidth > 0, () => false)))"
        )
        assert len(decoded) >= 5 and all(decoded), decoded
        sorted_auc = browser.evaluate(
            """(() => {
              const table = document.querySelector('table.sortable');
              const header = [...table.tHead.rows[0].cells].find(c => c.textContent === 'EER');
              const column = header.cellIndex;
              const values = () => [...table.tBodies[0].rows].map(
                r => Number(r.cells[column].dataset.v));
              header.click();
              const up = values();
              header.click();
              return [up, values(), header.getAttribute('aria-sort')];
            })()"""
        )
        up, down, state = sorted_auc
        assert up == sorted(up) and down == sorted(down, reverse=True) and state == "descending"
        assert browser.evaluate("document.querySelectorAll('section.folder').length") == 1
        assert browser.errors() == []
