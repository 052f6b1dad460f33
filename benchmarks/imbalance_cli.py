#!/usr/bin/env python
"""Benchmark: ``dfshield imbalance --ratios 10 15 20 30 50 --seeds 3`` from the command line,
batched (``train.batched_runs: true``), against one run of the same config (issue 22's target).

Both commands run as a user runs them (``python -m dfshield.cli imbalance``, one process each)
on the DemoFaces data (made with ``dfshield demo-data`` into ``--data``), spcup with the tiny
random-init CLIP ViT, ``--epochs`` epochs, one torch thread. The feature bank is encoded once
before either is timed, so both read the cached bank. Each command's wall time and CPU time
(user + system, from ``getrusage`` of the child) are printed with their ratio to the one run;
on a shared machine the CPU ratio is the figure to compare.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import footer, header, new_parser, record

import dfshield
from dfshield.config import config_dir


def parse_args(argv: list[str] | None = None):
    parser = new_parser(__doc__)
    parser.add_argument("--ratios", type=float, nargs="+", default=[10, 15, 20, 30, 50])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per ratio")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--data", type=Path, default=None, help="DemoFaces folder (made if absent)")
    return parser.parse_args(argv)


def dfshield_cli(*args: str, log: Path) -> tuple[float, float]:
    """Run ``dfshield ARGS`` in a child process; its (wall, CPU) seconds. Its output goes to
    ``log``; a failure ends the benchmark with that log's tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        code = subprocess.call(
            [sys.executable, "-m", "dfshield.cli", *args], stdout=out, stderr=out, env=env
        )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"dfshield {' '.join(args)} failed:\n{log.read_text()[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(header(torch.device("cpu")))  # each command runs on one thread (OMP_NUM_THREADS=1)
    print(f"dfshield at {Path(dfshield.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-imbalance-") as tmp:
        work = Path(tmp)
        data = args.data or work / "data"
        if not (data / "json").is_dir():
            dfshield_cli("demo-data", str(data), "--no-progress", "-q", log=work / "data.log")
        protocol = work / "protocol.yaml"
        protocol.write_text(
            f"_base_: {config_dir() / 'demo.yaml'}\n"
            f"data: {{json_dir: {data / 'json'}, lmdb_dir: {data / 'lmdb'}}}\n"
            f"train: {{epochs: {args.epochs}, batched_runs: true, output_dir: {work / 'out'}}}\n"
        )
        common = [
            "imbalance",
            "--detectors", "spcup",
            "--protocol", str(protocol),
            "--set", "detector.backbone.model=dfshield-tiny-vit",
            "--set", "detector.backbone.pretrained=null",
            "--feature-cache", str(work / "cache"),
            "--no-report",
        ]  # fmt: skip
        first = f"{args.ratios[0]:g}"
        warm = [*common, "--ratios", first, "--seeds", "1", "--set", "train.epochs=1"]
        dfshield_cli(*warm, "--run-dir", str(work / "warm"), log=work / "warm.log")
        one = dfshield_cli(
            *common, "--ratios", first, "--seeds", "1", "--run-dir", str(work / "one"),
            log=work / "one.log",
        )  # fmt: skip
        ratios = [f"{r:g}" for r in args.ratios]
        sweep = dfshield_cli(
            *common, "--ratios", *ratios, "--seeds", str(args.seeds),
            "--run-dir", str(work / "sweep"), log=work / "sweep.log",
        )  # fmt: skip
        batched = [
            line
            for line in (work / "sweep.log").read_text().splitlines()
            if line.startswith("Training of")
        ]
    runs = len(args.ratios) * args.seeds
    print(
        f"\nspcup on DemoFaces, tiny ViT, cached bank, {args.epochs} epochs, OMP 1; "
        f"{runs} runs: ratios {' '.join(ratios)} x {args.seeds} seeds"
    )
    print(f"{'what':<28}  {'wall s':>8}  {'CPU s':>8}  {'wall x':>7}  {'CPU x':>7}")
    for name, (wall, cpu) in ((f"one run (ratio {first})", one), (f"{runs} runs", sweep)):
        print(f"{name:<28}  {wall:>8.1f}  {cpu:>8.1f}  {wall / one[0]:>7.2f}  {cpu / one[1]:>7.2f}")
    print("the sweep said:", *(line.strip() for line in batched) or ["(no batching line)"])
    record(
        imbalance_cli_one_run_s=one[0],
        imbalance_cli_sweep_s=sweep[0],
        imbalance_cli_wall_ratio=sweep[0] / one[0],
        imbalance_cli_cpu_ratio=sweep[1] / one[1],
    )
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
