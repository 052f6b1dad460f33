"""DDP through torchrun on CPU: gloo backend, 2 processes, sharded extraction, gathered metrics."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from conftest import TINY_BACKBONE, toy_layer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.e2e
def test_torchrun_two_processes_train_and_gather(toy_dataset, tmp_path):
    layer = toy_layer(toy_dataset, tmp_path, epochs=2)[1]
    sets = [f"data.{k}={json.dumps(v)}" for k, v in layer["data"].items()]
    sets += [f"train.{k}={json.dumps(v)}" for k, v in layer["train"].items()]
    sets += [f"detector.backbone={json.dumps(TINY_BACKBONE)}"]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "--master_addr=127.0.0.1",
        "-m",
        "dfshield.cli",
        "train",
        "--detector",
        "robust_clip",
        "--run-dir",
        str(tmp_path / "ddp"),
        "--feature-cache",
        str(tmp_path / "cache"),
    ]
    for item in sets:
        command += ["--set", item]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "test_metrics.json").read_text())
    summary = toy_dataset["summary"]
    test_frames = summary.frames["test"]["real"] + summary.frames["test"]["fake"]
    assert metrics["n"] == test_frames  # predictions of both ranks gathered, none twice
    assert (tmp_path / "ddp" / "checkpoints" / "best.pt").is_file()
    banks = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert len(banks) == 3  # train, val, test: extracted once, shared by both ranks
    for bank in banks:
        meta = json.loads((bank / "meta.json").read_text())
        assert meta["skipped"] == 0 and len(meta["labels"]) == meta["count"]
