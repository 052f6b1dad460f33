"""``benchmarks/gpu.sh``: every row runs and prints its figures (the CPU small mode), and a GPU
asked for but absent fails loudly, with ``python3`` found when there is no ``python``."""

from __future__ import annotations

import json
import numbers
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
GPU_SH = ROOT / "benchmarks" / "gpu.sh"
ROWS = (
    "device",
    "extraction",
    "loader",
    "extract_end_to_end",
    "spcup_head",
    "rdaa",
    "sweep_5x3",
)  # and rdaa_uncaptured, at full sizes only (nothing is captured on a CPU)
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def numbers_in(value) -> list[float]:
    """Every number in a JSON value (bools excluded)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return [float(value)]
    return []


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(GPU_SH), *args], capture_output=True, text=True, env=env, timeout=900
    )


#: the rows in two runs of gpu.sh, so that neither test takes long (together: every row)
GROUPS = (ROWS[:4], ROWS[4:])


@pytest.mark.slow
@no_cuda
@pytest.mark.parametrize("group", GROUPS, ids=["data-rows", "training-rows"])
def test_small_mode_every_row_prints_its_figures(tmp_path, group):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    # a long limit: the figures of a loaded test machine are not the point, each path running is
    args = ["--small", "--time-scale", "20", "--json", str(tmp_path / "gpu.json"), "--rows"]
    done = run([*args, *group], env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads((tmp_path / "gpu.json").read_text())
    assert results["small"] is True and results["failed"] == []
    assert list(results["rows"]) == list(group)
    for key, row in results["rows"].items():
        figures = {k: v for k, v in row.items() if k not in ("status", "seconds", "limit_s")}
        assert row["status"] == "ok", key
        assert numbers_in(figures), f"row {key} recorded no figure: {row}"
    rows = results["rows"]
    if "device" in rows:
        assert rows["device"]["works"] is True and rows["device"]["capture"] == "off"
        assert {"bf16", "fp32_tf32", "raw_bf16", "raw_fp32_tf32"} <= set(
            rows["extraction"]["img_s"]
        )
        assert rows["loader"]["decode_ceiling_img_s"] > 0
        assert set(rows["loader"]["of_decode_ceiling"]["lmdb uint8"]) == {"0", "2"}
        assert rows["extract_end_to_end"]["end_to_end_over_backbone"] > 0
    else:
        head = rows["spcup_head"]
        assert head["trainer_epoch_s"] > 0 and head["plain_loop_s"] > 0
        assert head["trainer_capture"] == head["loop_capture"] == "off"
        assert rows["rdaa"]["capture"] == "off" and rows["sweep_5x3"]["runs"] == 15
    assert "=== JSON" in done.stdout  # printed too, for a log pasted whole


def test_the_two_groups_are_every_row_once():
    assert [row for group in GROUPS for row in group] == list(ROWS)


def test_rows_refuses_the_end_to_end_row_without_the_frames_of_the_loader_row():
    done = run(
        ["--small", "--rows", "extract_end_to_end"], {**os.environ, "PYTHON": sys.executable}
    )
    assert done.returncode == 2 and "add loader" in done.stderr


@pytest.mark.slow  # 3-6 s: starts python3 on the script
@no_cuda
def test_cuda_asked_for_without_cuda_fails_loudly_with_python3(tmp_path):
    # a PATH where only python3 runs Python (as on GPU images without `python`)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    if any((Path(d) / "python").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("a `python` is on the system PATH")
    done = run(["--device", "cuda"], env)
    assert done.returncode == 2
    assert f"interpreter: python3 ({python3})" in done.stdout
    assert "--device cuda asks for a GPU, but CUDA is not available" in done.stderr
    assert "=== device" not in done.stdout  # nothing ran on the CPU instead
