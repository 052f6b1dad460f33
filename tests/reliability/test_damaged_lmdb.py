"""A truncated LMDB (``data.mdb`` cut short) is a named error, never a SIGBUS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dfshield
from tests.helpers import write_toy_dataset


@pytest.mark.slow
def test_a_truncated_lmdb_is_named_not_a_bus_error(tmp_path):
    dataset = write_toy_dataset(tmp_path, n_real=20, n_fake=20, frames_per_video=2)
    data = Path(dataset["lmdb_dir"]) / f"{dataset['name']}_lmdb" / "data.mdb"
    with open(data, "r+b") as handle:
        handle.truncate(os.path.getsize(data) // 3)
    env = {**os.environ, "PYTHONPATH": str(Path(dfshield.__file__).parents[1])}
    argv = ["data-info", "--dataset", dataset["name"], "--json-dir", dataset["json_dir"]]
    argv += ["--lmdb-dir", dataset["lmdb_dir"]]
    for label in dataset["label_dict"].items():
        argv += ["--label", f"{label[0]}={label[1]}"]
    done = subprocess.run(
        [sys.executable, "-m", "dfshield.cli", *argv], capture_output=True, text=True, env=env
    )
    assert done.returncode in (1, 2), (done.returncode, done.stderr[-2000:])  # not -7 (SIGBUS)
    assert "is truncated: its data.mdb has" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
