#!/usr/bin/env python
"""The rows of ``benchmarks/gpu.sh`` (run that; it picks the interpreter): each row one benchmark
script with its reference measured in the same run, in a process of its own under a time limit,
then one JSON of every row's named figures.

Rows: device resolution and a Trainer on the device; frozen extraction per precision against the
raw model; loader images/s per worker count against the CPU's decoding ceiling; ``dfshield
extract`` end to end against the backbone alone; the spcup head epoch as ``Trainer.fit`` runs it
and the plain-loop references; the rdaa epoch (captured and not); a 5 ratios x 3 seeds imbalance
sweep batched against one run and the 15 runs one by one.

The libraries are imported once here; each row runs in a forked child (its own process group),
so a row that fails, hangs or crashes loses only its own figures: it is killed at its limit
(:data:`LIMITS`, 6 minutes in all at full sizes; ``--time-scale``) and the next row starts.
This process never touches CUDA (a forked child could not use it then). Exit status 1 when any
row failed, 2 when the device asked for is not there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common

#: seconds each row may take at full sizes, 6 minutes in all (estimates for an H100/H200 machine
#: with 16 cores, model builds and data generation included); ``--time-scale`` multiplies them,
#: ``--small`` by 2 unless given
LIMITS = {
    "device": 30,
    "extraction": 45,
    "loader": 60,
    "extract_end_to_end": 50,
    "spcup_head": 60,
    "rdaa": 20,
    "rdaa_uncaptured": 25,
    "sweep_5x3": 70,
}
assert sum(LIMITS.values()) <= 360
SWEEP = ["--ratios", "10", "15", "20", "30", "50", "--seeds", "3"]


@dataclass
class Row:
    key: str
    title: str
    script: str
    argv: list[str]


def rows(small: bool, device: str, data: Path, cores: int) -> list[Row]:
    """The rows at full (GPU) or small (CPU check) sizes."""
    last = str(max(1, cores - 1))  # workers: one core left to the main process
    model = "dfshield-tiny-vit" if small else "ViT-L-14"
    frames = ["--frames", "64"] if small else ["--frames", "16384"]
    dev = ["--device", device]
    table = [
        Row("device", "device: train.device values, a Trainer on --device", "device", dev),
        Row(
            "extraction",
            "extraction: bf16 weights vs autocast vs raw bf16; TF32 vs fp32",
            "extract",
            ["--parts", "precision", "--model", model, *dev]
            + (["--images", "16", "--batch", "8"] if small else ["--images", "2048"])
            + ([] if small else ["--batch", "256"]),
        ),
        Row(
            "loader",
            "loader: img/s per workers vs decode ceiling (LMDB, uint8, 256->224)",
            "loader",
            ["--data", str(data), *frames, "--stores", "lmdb", "--pixels", "uint8", *dev]
            + (["--unique", "32"] if small else [])
            + ["--repeats", "1", "--workers"]
            + (
                ["0", "2", "--ceiling-frames", "16", "--batch-size", "32"]
                if small
                else ["8", "16", "--max-images", "8192"]
            ),
        ),
        Row(
            "extract_end_to_end",
            "dfshield extract end to end vs backbone alone",
            "extract",
            ["--parts", "end-to-end", "--data", str(data), *frames, "--model", model, *dev]
            + ["--batch", "16" if small else "256", "--workers", last],
        ),
        Row(
            "spcup_head",
            "spcup head epoch: Trainer.fit, the benchmark loop, the plain PyTorch loops",
            "feature_bank",
            ["--skip-bank", "--head-ratio", *dev, "--n-features", "500" if small else "250000"],
        ),
        Row(
            "rdaa",
            "rdaa epoch (CUDA graph on a GPU)",
            "rdaa",
            [*dev, "--n-features", "512" if small else "100000"] + (["--dim", "64"] * small),
        ),
        Row(
            "rdaa_uncaptured",
            "rdaa epoch, uncaptured reference",
            "rdaa",
            [*dev, "--capture", "off", "--n-features", "512" if small else "100000"]
            + (["--dim", "64"] * small),
        ),
        Row(
            "sweep_5x3",
            "imbalance sweep 5 ratios x 3 seeds: batched vs one run vs 15 runs",
            "batched_runs",
            [*dev, *SWEEP]
            + (["--n-real", "300", "--dim", "32"] if small else ["--n-real", "125000"])
            + ([] if small else ["--dim", "768"]),
        ),
    ]
    if small:  # on the CPU nothing is captured: the reference would repeat the rdaa row
        table = [row for row in table if row.key != "rdaa_uncaptured"]
    return table


def in_child(limit: float, work, *args) -> tuple[str, Any]:
    """Run ``work(*args)`` in a forked child of its own process group, killed with its group
    (DataLoader workers, helper processes) after ``limit`` seconds. Returns ``(status, value)``:
    ``ok`` and what ``work`` returned (through a JSON file), ``failed (exit N)`` or
    ``timed out``."""
    with tempfile.TemporaryDirectory(prefix="dfshield-gpu-row-") as folder:
        out = Path(folder) / "figures.json"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.setpgid(0, 0)
                out.write_text(json.dumps(work(*args), default=str))
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
                if not isinstance(stop.code, int) and stop.code is not None:
                    print(stop.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # as the child does: no window in which it is in our group
        deadline = time.monotonic() + limit
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"timed out after {limit:g} s (killed)", None
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # helpers the row left behind
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not out.is_file():
            return f"failed (exit {code})", None
        return "ok", json.loads(out.read_text())


def run_script(script: str, argv: list[str]) -> dict[str, Any]:
    """A benchmark script's ``main(argv)`` in this process; its recorded figures."""
    module = importlib.import_module(script)
    sys.argv = [f"benchmarks/{script}.py", *argv]  # the header prints the command line
    code = module.main(argv)
    if code:
        raise SystemExit(code)
    return dict(_common.RESULTS)


def cuda_device() -> dict[str, Any]:
    """CUDA as the rows will see it (asked in a child: this process stays without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return {"available": False, "torch": torch.__version__, "cuda": torch.version.cuda}
    return {"available": True, "count": torch.cuda.device_count(), "torch": torch.__version__}


def git(*args: str) -> str | None:
    """The output of ``git ARGS`` (None where git fails)."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/gpu.sh",
        description="The GPU-speed rows, each with its reference; one JSON at the end.",
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="small sizes and tiny models: checks every path (the default without CUDA, on "
        "--device auto or cpu)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda or cuda:N; a CUDA device that is not there is an error (exit 2), "
        "never a silent CPU run",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="multiply every row's time limit (default 1 at full sizes, 2 with --small; more on "
        "a loaded machine)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON to this file")
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=list(LIMITS),
        default=None,
        help="run only these rows, in the table's order (e.g. one that ran out of time again, "
        "with a larger --time-scale); extract_end_to_end reads the frames the loader row writes, "
        "so it needs loader too",
    )
    args = parser.parse_args(argv)
    if args.rows and "extract_end_to_end" in args.rows and "loader" not in args.rows:
        parser.error("extract_end_to_end reads the frames the loader row writes: add loader")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    status, cuda = in_child(60, cuda_device)
    if status != "ok":
        print(f"gpu.sh: asking torch about CUDA {status}", file=sys.stderr)
        return 2
    wants_gpu = args.device.strip().lower().startswith("cuda")
    if wants_gpu and not cuda["available"]:
        print(
            f"gpu.sh: --device {args.device} asks for a GPU, but CUDA is not available here "
            f"(torch {cuda['torch']}, built for CUDA {cuda['cuda']}). Nothing was measured: run "
            f"on a machine with a GPU, or use --device cpu (small sizes) to check the paths",
            file=sys.stderr,
        )
        return 2
    small = args.small or not cuda["available"] or args.device.strip().lower() == "cpu"
    cores = os.cpu_count() or 1
    scale = args.time_scale or (2.0 if small else 1.0)
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    print(
        f"benchmarks/gpu.sh: {datetime.datetime.now().isoformat(timespec='seconds')}  "
        f"commit {commit}{' (uncommitted changes)' if dirty else ''}\n"
        f"host {platform.node()}  nproc {cores}  small={int(small)}  device={args.device}  "
        f"load average {_common.load_average()}"
    )
    if small and not args.small:
        print("no CUDA device asked for or found: small sizes on the CPU (checks the paths)")
    results: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": commit,
        "uncommitted_changes": dirty,
        "host": platform.node(),
        "nproc": cores,
        "small": small,
        "device": args.device,
        "cuda": cuda,
        "load_average_start": _common.load_average(),
        "rows": {},
    }
    with tempfile.TemporaryDirectory(prefix="dfshield-gpu-sh-") as scratch:
        data = Path(scratch) / "frames"  # made by the loader row, read again by the extract row
        for row in rows(small, args.device, data, cores):
            if args.rows and row.key not in args.rows:
                continue
            print(f"\n=== {row.title}\n$ python benchmarks/{row.script}.py {' '.join(row.argv)}")
            row_started = time.monotonic()
            limit = LIMITS[row.key] * scale
            status, figures = in_child(limit, run_script, row.script, row.argv)
            seconds = time.monotonic() - row_started
            if status != "ok":
                print(f"--- {row.key}: {status}")
            results["rows"][row.key] = {
                "status": status,
                "seconds": round(seconds, 1),
                "limit_s": limit,
                **(figures or {}),
            }
    results["load_average_end"] = _common.load_average()
    results["seconds"] = round(time.monotonic() - started, 1)
    failed = [key for key, row in results["rows"].items() if row["status"] != "ok"]
    results["failed"] = failed
    print(f"\n=== summary ({results['seconds']:.0f} s in all)")
    for key, row in results["rows"].items():
        limit = f"(limit {row['limit_s']:g} s)"
        print(f"{key:<20} {row['status']:<32} {row['seconds']:>6.1f} s {limit}")
    text = json.dumps(results, indent=2, default=str)
    print(f"\n=== JSON\n{text}")
    if args.json is not None:
        args.json.write_text(text + "\n")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    for name in ("device", "extract", "loader", "feature_bank", "rdaa", "batched_runs"):
        importlib.import_module(name)  # once, before the rows fork
    raise SystemExit(main())
