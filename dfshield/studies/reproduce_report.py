"""``reproduce.{md,csv,json}``: per cell the published value, ours (mean ± std), difference."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfshield.studies.reproduce_plan import Plan, row_sets, rows_of

__all__ = [
    "CSV_COLUMNS",
    "build_report",
    "format_report",
    "metric_value",
    "published_values",
    "write_report",
]


def metric_value(metrics: Mapping[str, Any], key: str) -> float | None:
    """The finite value of metric ``key``, or None when dfshield does not compute it; ``<m>_real``
    (real as positive) is derived exactly: real = 2·macro − fake."""
    from dfshield.eval.results import number

    if key in metrics:
        return number(metrics[key], finite=True)
    if key.endswith("_real"):
        fake = number(metrics.get(key[: -len("_real")]), finite=True)
        macro = number(metrics.get(key[: -len("_real")] + "_macro"), finite=True)
        if fake is not None and macro is not None:
            return 2.0 * macro - fake
    return None


def published_values(text: str) -> list[tuple[float, float | None] | None]:
    """Cells as printed: ``0.9137``, ``95.6±0.29`` (mean ± std) or ``-`` (no value)."""
    values: list[tuple[float, float | None] | None] = []
    for token in text.split():
        if token == "-":
            values.append(None)
        else:
            mean, _, std = token.partition("±")
            values.append((float(mean), float(std) if std else None))
    return values


def build_report(
    plan: Plan,
    results: Mapping[tuple[str, str, int], Mapping[str, Mapping[str, Any]]],
    notes: Mapping[str, list[str]],
) -> dict[str, Any]:
    """The report as plain data: per section, row and column, published, ours (± std), difference
    and the best run's (:func:`best_runs`); cells the paper leaves empty are left out."""
    table, absent = plan.table, set()
    sections = []
    for section in table.sections:
        rows = []
        for row in rows_of(table, section):
            cells = []
            for column, published in zip(
                table.columns, published_values(section.published[row.id])
            ):
                if published is None:
                    continue
                values = [
                    metric_value(results[(section.name, column.test, seed)][row.id], column.metric)
                    for seed in plan.seeds
                ]
                found = [table.scale * v for v in values if v is not None]
                if not found:
                    absent.add(column.metric)
                ours = float(np.mean(found)) if found else None
                cells.append(
                    {
                        "column": column.header,
                        "metric": column.metric,
                        "test": column.test,
                        "published": published[0],
                        "published_std": published[1],
                        "ours": ours,
                        "ours_std": float(np.std(found, ddof=1)) if len(found) > 1 else None,
                        "difference": None if ours is None else ours - published[0],
                        "runs": [None if v is None else table.scale * v for v in values],
                    }
                )
            best_runs(cells, plan.seeds)
            rows.append(
                {
                    "id": row.id,
                    "label": row.label,
                    "detector": row.detector,
                    "sets": row_sets(section, row),
                    "cells": cells,
                }
            )
        sections.append({"name": section.name, "rows": rows, "data": notes.get(section.name, [])})
    return {
        "name": table.name,
        "paper": table.paper,
        "title": table.title,
        "protocol": str(plan.protocol),
        "seeds": plan.seeds,
        "overrides": plan.overrides,
        "scale": table.scale,
        "decimals": table.decimals,
        "best_of_runs": table.best_of_runs,
        "sections": sections,
        "differences": list(table.differences),
        "not_reproduced": list(table.not_reproduced),
        "not_computed": sorted(absent),
        "run_dir": str(plan.run_dir),
    }


def best_runs(cells: list[dict[str, Any]], seeds: Sequence[int]) -> None:
    """Fill in each cell's ``ours_best`` from a row's best run (as DDLN §4.2.4 reports): per test
    set, the run best on the row's first cell, never a per-cell pick."""
    for test in dict.fromkeys(cell["test"] for cell in cells):
        group = [cell for cell in cells if cell["test"] == test]
        runs = [(v, i) for i, v in enumerate(group[0]["runs"]) if v is not None]
        best = None
        if runs:
            lower = group[0]["metric"].endswith("eer")
            best = (min(runs) if lower else max(runs))[1]
        for cell in group:
            value = None if best is None else cell["runs"][best]
            cell["ours_best"] = value
            cell["best_seed"] = None if best is None or value is None else seeds[best]
            cell["difference_best"] = None if value is None else value - cell["published"]


def _shown(value: float | None, decimals: int, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"


def _cell_texts(cell: Mapping[str, Any], decimals: int) -> tuple[str, ...]:
    """A cell as (published, ours, difference, best run, best − published) text."""
    paper = _shown(cell["published"], decimals)
    if cell["published_std"] is not None:
        paper += f" ± {cell['published_std']:g}"
    ours = _shown(cell["ours"], decimals)
    if cell["ours_std"] is not None:
        ours += f" ± {cell['ours_std']:.{decimals}f}"
    best = _shown(cell.get("ours_best"), decimals)  # .get: reports written before best-of-N
    if cell.get("best_seed") is not None:
        best += f" (seed {cell['best_seed']})"
    return (
        paper,
        ours,
        _shown(cell["difference"], decimals, sign=True),
        best,
        _shown(cell.get("difference_best"), decimals, sign=True),
    )


def format_report(report: Mapping[str, Any]) -> str:
    """The report as Markdown (``reproduce.md``; also printed by the command)."""
    d = report["decimals"]
    lines = [
        f"# {report['name']}: {report['title']}",
        "",
        f"{report['paper']}. Protocol `{report['protocol']}`; seeds "
        f"{', '.join(map(str, report['seeds']))}"
        + (f"; --set {' '.join(report['overrides'])}" if report["overrides"] else "")
        + ". `paper` is the published value, `dfshield mean ± std` ours (mean ± standard "
        "deviation over the seeds), `difference` that mean − paper"
        + (
            f"; the paper reports its best model, so `dfshield best of {len(report['seeds'])}` "
            "shows our best run (best on the first cell of the row on each test set; every cell "
            "of that test set from that one run) and `difference (best)` it − paper"
            if report.get("best_of_runs")
            else ""
        )
        + ". — : not published, or not computed by dfshield.",
    ]
    kinds = ["paper", "dfshield mean ± std", "difference"]
    if report.get("best_of_runs"):
        kinds += [f"dfshield best of {len(report['seeds'])}", "difference (best)"]
    for section in report["sections"]:
        headers = list(dict.fromkeys(c["column"] for r in section["rows"] for c in r["cells"]))
        lines += ["", f"## {section['name']}", ""]
        lines.append("| Method | | " + " | ".join(headers) + " |")
        lines.append("| --- | --- | " + " | ".join("---:" for _ in headers) + " |")
        for row in section["rows"]:
            texts = {c["column"]: _cell_texts(c, d) for c in row["cells"]}
            labels = [row["label"].replace("|", "\\|")] + [""] * (len(kinds) - 1)
            for i, (label, kind) in enumerate(zip(labels, kinds)):
                shown = [texts[h][i] if h in texts else "" for h in headers]
                lines.append(f"| {label} | {kind} | " + " | ".join(shown) + " |")
        if section["data"]:
            lines += ["", "Data preparation:", *[f"- {note}" for note in section["data"]]]
    lines += ["", "## Protocol differences that remain", ""]
    lines += [f"- {text}" for text in report["differences"]]
    if report["not_computed"]:
        lines.append(
            f"- Not computed by dfshield (shown as —): {', '.join(report['not_computed'])}."
        )
    if report["not_reproduced"]:
        lines.append(
            "- Rows of methods dfshield does not implement are left out: "
            f"{', '.join(report['not_reproduced'])}."
        )
    lines += [
        "",
        f"Runs: `{report['run_dir']}` (one comparison folder per section, test set and seed).",
        "",
    ]
    return "\n".join(lines)


CSV_COLUMNS = (
    "section",
    "row",
    "label",
    "column",
    "metric",
    "test",
    "published",
    "published_std",
    "ours",
    "ours_std",
    "difference",
    "ours_best",
    "best_seed",
    "difference_best",
)


def write_report(run_dir: str | os.PathLike, report: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``reproduce.md``/``.csv``/``.json`` atomically into ``run_dir``; paths by suffix."""
    from dfshield.fileio import write_json_atomic, write_text_atomic

    out = Path(run_dir)
    paths = {kind: out / f"reproduce.{kind}" for kind in ("md", "csv", "json")}
    write_text_atomic(paths["md"], format_report(report))
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for section in report["sections"]:
        for row in section["rows"]:
            for cell in row["cells"]:
                writer.writerow(
                    {
                        "section": section["name"],
                        "row": row["id"],
                        "label": row["label"],
                        **{k: "" if v is None else v for k, v in cell.items()},
                    }
                )
    write_text_atomic(paths["csv"], buffer.getvalue())
    write_json_atomic(paths["json"], report)
    return paths
