"""Running ``dfshield reproduce``: every table runs end to end on the tiny DeepfakeBench and
writes its three report files."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from dfshield.cli import main
from dfshield.studies.reproduce_tables import KNOWN_GENERATORS, TABLES, Subset
from tests.reproduce_bench import tiny_sets


def shrink(table):
    """The table cut to fit the fixture and the time budget (the full plans are checked by
    test_every_table_resolves_without_changing_its_protocol): subsets scaled down, one section
    per dataset, and two generators (one known, one unseen) instead of fourteen."""
    small = {"Celeb-DF-v2": ((8, 3), (4, 2)), "DFDC": ((4, 2), (3, 2))}
    sections, seen = [], set()
    for section in table.sections:
        if section.subset is None:
            sections.append(section)
        elif section.subset.dataset not in seen:
            seen.add(section.subset.dataset)
            subset = Subset(section.subset.dataset, *small[section.subset.dataset])
            sections.append(dataclasses.replace(section, subset=subset))
    if len(table.tests) > 3:
        keep = [0, len(KNOWN_GENERATORS)]
        columns = tuple(table.columns[i] for i in keep)
        sections = [
            dataclasses.replace(
                s,
                published={k: " ".join(v.split()[i] for i in keep) for k, v in s.published.items()},
            )
            for s in sections
        ]
        table = dataclasses.replace(
            table, columns=columns, tests={c.test: table.tests[c.test] for c in columns}
        )
    return dataclasses.replace(table, sections=tuple(sections))


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("name", list(TABLES))
def test_every_table_runs_end_to_end(name, bench, tmp_path, monkeypatch, capsys, one_thread):
    table = shrink(TABLES[name])
    monkeypatch.setitem(TABLES, name, table)
    detector = table.rows[0].detector
    sets = [x for s in tiny_sets(detector, bench["out"]) for x in ("--set", s)]
    argv = ["reproduce", name, "--json-dir", bench["json_dir"], "--lmdb-dir", bench["lmdb_dir"]]
    assert main([*argv, "--run-dir", str(tmp_path), "--seeds", "1", *sets]) == 0
    assert f"# {name}" in capsys.readouterr().out
    report = json.loads((tmp_path / "reproduce.json").read_text())
    computed = 0
    assert [s["name"] for s in report["sections"]] == [s.name for s in table.sections]
    for section, published in zip(report["sections"], table.sections):
        assert [r["id"] for r in section["rows"]] == [
            r.id for r in table.rows if r.id in published.published
        ]
        for row in section["rows"]:
            for cell in row["cells"]:
                assert cell["published"] is not None
                if cell["metric"] not in report["not_computed"]:
                    assert math.isfinite(cell["ours"]) and math.isfinite(cell["difference"])
                    computed += 1
    assert computed > 0
    assert (tmp_path / "reproduce.md").read_text().count("| dfshield mean ± std |") >= 1
    lines = (tmp_path / "reproduce.csv").read_text().splitlines()
    assert lines[0].startswith("section,row,label,column,metric,test,published")
