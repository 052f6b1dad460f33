"""The report page: HTML, CSS and a little JavaScript in one self-contained file (docs/report.md).

Over 450 lines for one job: every section of the page is a function here, so that its markup
lives in one place; what it shows is read and drawn elsewhere.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dfshield.eval.results import number
from dfshield.html_report import figures
from dfshield.html_report.feature_map import feature_points
from dfshield.html_report.leaderboard import (
    METRICS,
    Entry,
    leaderboard_entries,
    row_anchor,
    slug,
)
from dfshield.html_report.run_folder_reader import Group, RunFolderContents

MISSING = "—"
DECIMALS = 4
#: sections every run folder's part of the page has, whatever it holds (missing ones say so)
SECTIONS = ("results", "curves", "training", "features", "provenance")
#: per-run curves are drawn for this many comparisons of a study (the tables show them all)
MAX_CURVE_GROUPS = 4

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header.top{background:#243447;color:#fff;padding:14px 24px}header.top h1{margin:0;font-size:20px}
header.top p{margin:4px 0 0;color:#cfd8e3;font-size:12px}
main{padding:8px 24px 40px;max-width:1200px}
section.folder{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 18px;
margin:18px 0}
h2{font-size:18px;margin:10px 0}h3{font-size:15px;margin:16px 0 6px;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f0f3f6}
td.text,th.text{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th::after{content:" \\2195";color:#aaa}
th[aria-sort=ascending]::after{content:" \\25B2"!important;color:#333}
th[aria-sort=descending]::after{content:" \\25BC"!important;color:#333}
td.best{font-weight:700;background:#e8f5e9}
td.good{background:#c8e6c9}td.bad{background:#ffcdd2}td.near{background:#fff9c4}
.missing{color:#8a6d3b;background:#fcf8e3;border:1px solid #faebcc;padding:6px 10px;
border-radius:4px}
.note{color:#555;font-size:12px}img{max-width:100%;height:auto;display:block;margin:6px 0}
details pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:420px;font-size:12px}
dl.prov{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}
dl.prov dt{font-weight:600}dl.prov dd{margin:0}
input#filter{padding:4px 8px;width:320px;margin:6px 0}
nav a{margin-right:12px}
"""

SCRIPT = """
(function(){
function key(cell){var v=cell.getAttribute('data-v');if(v===null||v==='')return null;
var n=Number(v);return isNaN(n)?v.toLowerCase():n;}
function sortBy(th){var table=th.closest('table'),body=table.tBodies[0];
var col=Array.prototype.indexOf.call(th.parentNode.children,th);
var asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
if(x<y)return asc?-1:1;if(x>y)return asc?1:-1;return 0;});
rows.forEach(function(r){body.appendChild(r);});}
document.querySelectorAll('table.sortable th').forEach(function(th){
th.addEventListener('click',function(){sortBy(th);});});
var filter=document.getElementById('filter');
if(filter){filter.addEventListener('input',function(){var q=filter.value.toLowerCase();
document.querySelectorAll('#leaderboard tbody tr').forEach(function(r){
r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});});}
})();
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class Cell:
    """A table cell: its text, the value it sorts by and its CSS classes."""

    def __init__(self, text: Any, sort: Any = None, classes: str = "", title: str = ""):
        self.text, self.classes, self.title = str(text), classes, title
        self.sort = self.text if sort is None else sort


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    text_columns: int = 1,
    row_ids: Sequence[str | None] | None = None,
    table_id: str | None = None,
) -> str:
    """A sortable HTML table; the first ``text_columns`` columns are left-aligned text."""
    head = "".join(
        f'<th class="text">{esc(h)}</th>' if i < text_columns else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        row_id = row_ids[r] if row_ids else None
        cells = []
        for i, cell in enumerate(row):
            classes = " ".join(filter(None, ["text" if i < text_columns else "", cell.classes]))
            attributes = f' class="{classes}"' if classes else ""
            if cell.title:
                attributes += f' title="{esc(cell.title)}"'
            sort = "" if cell.sort is None else cell.sort
            cells.append(f'<td data-v="{esc(sort)}"{attributes}>{esc(cell.text)}</td>')
        ident = f' id="{esc(row_id)}"' if row_id else ""
        body.append(f"<tr{ident}>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def metric_cells(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, bool]]
) -> list[list[Cell]]:
    """Metric cells, 4 decimals, the best per column (as displayed, ties too) marked."""
    cells: list[list[Cell]] = [[] for _ in rows]
    for _, key, higher in columns:
        values = [number(row.get(key), finite=True) for row in rows]
        rounded = [None if v is None else round(v, DECIMALS) for v in values]
        present = [v for v in rounded if v is not None]
        target = (max(present) if higher else min(present)) if len(present) >= 2 else None
        for i, (value, shown) in enumerate(zip(values, rounded)):
            if shown is None:
                cells[i].append(Cell(MISSING, ""))
            else:
                best = "best" if shown == target else ""
                cells[i].append(Cell(f"{shown:.{DECIMALS}f}", repr(value), best))
    return cells


def image(uri: str | None, alt: str, missing: str = "") -> str:
    """An embedded image, or the note ``missing`` (nothing when empty) when there is none."""
    if uri is None:
        return f'<p class="missing">{esc(missing)}</p>' if missing else ""
    return f'<img src="{uri}" alt="{esc(alt)}">'


def missing_note(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


# -- the sections of one run folder ----------------------------------------------------------


def results_section(index: int, contents: RunFolderContents) -> str:
    """The folder's results table: comparison, imbalance summary, reproduction or robustness."""
    from dfshield.eval.results import table_columns

    parts = []
    if contents.reproduce:
        parts.append(reproduce_table(contents.reproduce))
    if contents.imbalance:
        parts.append(f'<div id="run-{index}-imbalance">{imbalance_table(contents.imbalance)}</div>')
    if contents.robustness:
        parts.append(robustness_table(contents.robustness))
    for group in contents.groups:
        rows = (group.results or {}).get("rows") or []
        if not rows:
            continue
        title = (group.results or {}).get("title") or group.title
        has_sets = any(row.get("test_set") for row in rows)
        headers = ["Detector"] + (["Test set"] if has_sets else [])
        headers += [header for header, _, _ in table_columns(True)]
        metric = metric_cells(rows, table_columns(True))
        body, ids = [], []
        for row, cells in zip(rows, metric):
            name = str(row.get("detector"))
            lead = [Cell(name)] + ([Cell(row.get("test_set") or MISSING)] if has_sets else [])
            body.append(lead + cells)
            ids.append(row_anchor(index, contents, group, name))
        caption = "" if group.path == contents.path else f" ({esc(group.title)})"
        parts.append(f"<h4>{esc(title)}{caption}</h4>")
        parts.append(table(headers, body, text_columns=len(headers) - 8, row_ids=ids))
    if not parts:
        return missing_note("No results table yet: results.json is missing (not tested yet).")
    parts.append(
        '<p class="note">Click a column header to sort. Best value per column in bold (EER: '
        "lowest; others: highest), compared at 4 decimals as in results.md. F1, Precision and "
        "Recall are macro-averaged over both classes.</p>"
    )
    return "\n".join(parts)


def imbalance_table(document: dict[str, Any]) -> str:
    from dfshield.html_report.figures import IMBALANCE_METRICS

    summary = document.get("summary") or []
    headers = ["Test set", "Detector", "Ratio", "Seeds"] + [t for _, t, _ in IMBALANCE_METRICS]
    body = []
    for row in summary:
        cells = [
            Cell(row.get("test_set")),
            Cell(row.get("detector")),
            Cell(f"{row.get('ratio')}:1", number(row.get("ratio"), finite=True)),
            Cell(row.get("n_seeds"), row.get("n_seeds")),
        ]
        for key, _, _ in IMBALANCE_METRICS:
            mean, std = (
                number(row.get(f"{key}_mean"), finite=True),
                number(row.get(f"{key}_std"), finite=True),
            )
            text = (
                MISSING
                if mean is None
                else f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}")
            )
            cells.append(Cell(text, "" if mean is None else repr(mean)))
        body.append(cells)
    return "<h4>Imbalance study: mean ± std over seeds</h4>" + table(headers, body, text_columns=2)


def reproduce_table(report: dict[str, Any]) -> str:
    """Published vs ours per cell, the difference coloured as docs/report.md says."""
    decimals = int(report.get("decimals") or 2)
    parts = [f"<h4>{esc(report.get('name'))}: {esc(report.get('title'))}</h4>"]
    parts.append(f'<p class="note">{esc(report.get("paper") or "")}</p>')
    for section in report.get("sections") or []:
        body = []
        for row in section.get("rows") or []:
            for cell in row.get("cells") or []:
                published, ours = (
                    number(cell.get("published"), finite=True),
                    number(cell.get("ours"), finite=True),
                )
                difference = number(cell.get("difference"), finite=True)
                lower = str(cell.get("metric", "")).endswith("eer")
                classes = ""
                if difference is not None and published is not None:
                    signed = -difference if lower else difference
                    tolerance = (
                        number(cell.get("published_std"), finite=True) or abs(published) * 0.01
                    )
                    classes = "good" if signed >= 0 else ("near" if -signed <= tolerance else "bad")
                body.append(
                    [
                        Cell(row.get("label")),
                        Cell(cell.get("column")),
                        Cell(_fixed(published, decimals), published),
                        Cell(_fixed(ours, decimals), ours),
                        Cell(_fixed(difference, decimals, True), difference, classes),
                    ]
                )
        headers = ["Method", "Column", "published", "dfshield", "difference"]
        parts.append(f"<h4>{esc(section.get('name'))}</h4>" + table(headers, body, text_columns=2))
    parts.append(
        '<p class="note">difference = dfshield − published; green: as good or better, yellow: '
        "worse by less than the published std (or 1 %), red: worse by more.</p>"
    )
    return "\n".join(parts)


def _fixed(value: float | None, decimals: int, sign: bool = False) -> str:
    if value is None:
        return MISSING
    return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"


def robustness_table(document: dict[str, Any]) -> str:
    rows = document.get("rows") or []
    labels = list(dict.fromkeys(label for row in rows for label in (row.get("metrics") or {})))
    metric_rows = [
        {label: (row.get("metrics") or {}).get(label, {}).get("auc") for label in labels}
        for row in rows
    ]
    columns = [(label, label, True) for label in labels]
    body = [
        [Cell(row.get("label") or row.get("perturbation"))] + cells
        for row, cells in zip(rows, metric_cells(metric_rows, columns))
    ]
    return "<h4>AUC under perturbations</h4>" + table(["Perturbation", *labels], body)


def _thresholded(group: Group, test_index: int) -> list[figures.Thresholded]:
    return [
        (
            run.name,
            run.tests[test_index].labels,
            run.tests[test_index].scores,
            run.tests[test_index].threshold,
        )
        for run in group.runs
        if len(run.tests) > test_index
    ]


def curves_section(contents: RunFolderContents) -> str:
    """ROC / PR, histograms, confusion matrices, the train × test heatmap, the study's plot."""
    parts = []
    for group in contents.groups[:MAX_CURVE_GROUPS]:
        count = max((len(run.tests) for run in group.runs), default=0)
        for t in range(count):
            items = _thresholded(group, t)
            name = next(run.tests[t].name for run in group.runs if len(run.tests) > t)
            where = name if group.path == contents.path else f"{group.title}, {name}"
            parts.append(f"<h4>{esc(where)}</h4>")
            curves = [(n, labels, scores) for n, labels, scores, _ in items]
            parts.append(
                image(
                    figures.roc_pr(curves, name),
                    f"ROC and PR, {where}",
                    f"No ROC for {where}: the test set lacks a class.",
                )
            )
            parts.append(image(figures.histograms(items), f"score histograms, {where}"))
            parts.append(image(figures.confusion_matrices(items), f"confusion matrices, {where}"))
            parts.append(
                '<p class="note">Histograms and confusion matrices at each run\'s threshold '
                "(test_metrics.json's, the one ACC is computed at; 0.5 when not recorded).</p>"
            )
    parts.append(_more_groups(contents))
    parts.append(heatmap_part(contents))
    if contents.imbalance:
        uri = figures.imbalance_curves(contents.imbalance.get("summary") or [])
        parts.append(
            "<h4>Metric vs training ratio</h4>" + image(uri, "imbalance", "No summary rows yet.")
        )
    if contents.reproduce:
        uri = figures.reproduce_scatter(contents.reproduce)
        parts.append(
            "<h4>Ours vs published</h4>" + image(uri, "reproduce", "No cell computed yet.")
        )
    if contents.robustness:
        uri = figures.robustness_curves(contents.robustness)
        parts.append(
            "<h4>AUC vs perturbation strength</h4>"
            + image(uri, "robustness", "No perturbation with a strength.")
        )
    parts = [p for p in parts if p]
    if not parts:
        return missing_note("No test scores yet (test_scores.csv is missing in every run).")
    return "\n".join(parts)


def _more_groups(contents: RunFolderContents) -> str:
    if len(contents.groups) <= MAX_CURVE_GROUPS:
        return ""
    rest = ", ".join(group.title for group in contents.groups[MAX_CURVE_GROUPS:])
    return (
        f'<p class="note">Curves of the first {MAX_CURVE_GROUPS} of {len(contents.groups)} '
        f"comparisons; not drawn: {esc(rest)} (their numbers are in the tables above; "
        f"dfshield report on one of those folders draws it).</p>"
    )


def heatmap_part(contents: RunFolderContents) -> str:
    """The train × test AUC table as a heatmap, when the folder has several test sets."""
    cells: dict[tuple[str, str], float] = {}
    for group in contents.groups:
        where = "" if group.path == contents.path else f"{group.title}: "
        for run in group.runs:
            for test in run.tests:
                value = number((test.metrics or {}).get("auc"), finite=True)
                if value is not None:
                    cells[(f"{where}{run.name} ({run.train_set})", test.name)] = value
    row_labels = list(dict.fromkeys(r for r, _ in cells))
    column_labels = list(dict.fromkeys(c for _, c in cells))
    if len(column_labels) < 2:
        return ""
    matrix = np.full((len(row_labels), len(column_labels)), np.nan)
    for (r, c), value in cells.items():
        matrix[row_labels.index(r), column_labels.index(c)] = value
    uri = figures.heatmap(matrix, row_labels, column_labels, "Frame AUC, train × test")
    return "<h4>Cross-dataset AUC (train × test)</h4>" + image(uri, "train x test AUC heatmap", "")


def training_section(contents: RunFolderContents) -> str:
    parts = []
    for group in contents.groups[:MAX_CURVE_GROUPS]:
        logs = [(run.name, run.log) for run in group.runs if run.log]
        if not logs:
            continue
        states = ", ".join(f"{run.name}: {len(run.log)} epochs ({run.state})" for run in group.runs)
        title = "" if group.path == contents.path else f"<h4>{esc(group.title)}</h4>"
        parts.append(title + image(figures.training_curves(logs), "training curves"))
        parts.append(f'<p class="note">From log.csv. {esc(states)}.</p>')
    parts.append(_more_groups(contents))
    return "\n".join(filter(None, parts)) or missing_note("No log.csv: no training curves.")


def features_section(contents: RunFolderContents, method: str) -> str:
    if method == "none":
        return '<p class="note">Feature map not drawn (--feature-map none).</p>'
    if not contents.banks:
        return missing_note(
            "No feature bank found for this run (only frozen-backbone detectors have one; it "
            "lives in <train.output_dir>/feature_cache, or give --feature-cache)."
        )
    found = feature_points(contents.banks, method)
    if found is None:
        return missing_note("The feature banks found could not be read.")
    uri = figures.feature_map(
        found.points, found.classes, found.datasets, "t-SNE" if found.method == "tsne" else "PCA"
    )
    folders = ", ".join(p.name for p in contents.banks)
    return image(uri, "feature map", "") + (
        f'<p class="note">{esc(found.caption)} Banks: {esc(folders)} (train, validation and '
        "test frames of the datasets the run read).</p>"
    )


def provenance_section(contents: RunFolderContents, here: dict[str, Any]) -> str:
    """What the folder records about where the run came from, then this report's environment."""
    recorded = contents.provenance or {}
    config = next((run.config for run in contents.runs if run.config), None)
    train = (config or {}).get("train") or {}
    backbone = ((config or {}).get("detector") or {}).get("backbone") or {}
    walls = [
        f"{run.name}: {run.wall_seconds:.1f} s"
        for run in contents.runs
        if run.wall_seconds is not None
    ]
    items = [
        ("kind", contents.kind),
        ("folder", str(contents.path)),
        ("dfshield", recorded.get("dfshield")),
        ("git commit", recorded.get("git_commit")),
        ("torch", recorded.get("torch")),
        ("CUDA", recorded.get("cuda")),
        (
            "device",
            recorded.get("device") or (train.get("device") and f"{train['device']} (configured)"),
        ),
        (
            "precision",
            f"train.amp={train.get('amp')}, "
            f"backbone precision={backbone.get('precision', 'default')}"
            if train
            else None,
        ),
        ("capture mode", train.get("capture")),
        ("started", recorded.get("started")),
        ("finished", recorded.get("finished")),
        ("study wall time", recorded.get("wall_seconds") and f"{recorded['wall_seconds']} s"),
        ("training wall time (log.csv)", "; ".join(walls) or None),
    ]
    absent = '<span class="missing">not recorded</span>'
    rows = "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v) if v not in (None, '') else absent}</dd>" for k, v in items
    )
    parts = [f'<dl class="prov">{rows}</dl>']
    if not contents.provenance:
        parts.append(
            '<p class="note">This folder has no provenance.json (written by compare, imbalance, '
            "reproduce and demo since this version): what it does not record is shown as "
            "not recorded.</p>"
        )
    made = ", ".join(f"{k} {v}" for k, v in here.items() if v)
    parts.append(f'<p class="note">Report made with: {esc(made)}.</p>')
    if config is not None:
        text = json.dumps(config, indent=2, sort_keys=False)
        parts.append(
            "<details><summary>Merged config (config.json)</summary>"
            f"<pre>{esc(text)}</pre></details>"
        )
    else:
        parts.append(missing_note("config.json is missing: no merged config to show."))
    if contents.protocol:
        text = json.dumps(contents.protocol, indent=2)
        parts.append(
            f"<details><summary>Protocol (protocol.json)</summary><pre>{esc(text)}</pre></details>"
        )
    return "\n".join(parts)


def folder_section(index: int, contents: RunFolderContents, method: str, here: dict) -> str:
    builders: dict[str, tuple[str, Callable[[], str]]] = {
        "results": ("Results", lambda: results_section(index, contents)),
        "curves": ("Curves", lambda: curves_section(contents)),
        "training": ("Training curves", lambda: training_section(contents)),
        "features": ("Feature bank map", lambda: features_section(contents, method)),
        "provenance": ("Provenance", lambda: provenance_section(contents, here)),
    }
    states = {run.state for run in contents.runs}
    status = (
        "still training" if "training" in states else ("" if states <= {"tested"} else "incomplete")
    )
    parts = [
        f'<section class="folder" id="run-{index}" data-kind="{esc(contents.kind)}">',
        f"<h2>{esc(contents.title)}{' — ' + status if status else ''}</h2>",
        f'<p class="note">{esc(contents.path.resolve())}</p>',
    ]
    if contents.missing:
        items = "".join(f"<li>{esc(m)}</li>" for m in contents.missing)
        parts.append(
            f'<div class="missing section-missing"><b>Missing pieces</b><ul>{items}</ul></div>'
        )
    for name, (title, build) in builders.items():
        parts.append(
            f'<div class="part" data-section="{name}" id="run-{index}-{name}">'
            f"<h3>{title}</h3>{build()}</div>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def leaderboard_section(entries: Sequence[Entry]) -> str:
    headers = ["Detector", "Train set", "Test set", *[h for h, _, _ in METRICS], "Run"]
    metric = metric_cells([e.metrics for e in entries], METRICS)
    body = []
    for entry, cells in zip(entries, metric):
        link = Cell(entry.folder)
        body.append(
            [Cell(entry.detector), Cell(entry.train_set), Cell(entry.test_set), *cells, link]
        )
    rendered = _link_runs(table(headers, body, text_columns=3, table_id="leaderboard"), entries)
    return (
        '<section class="folder" id="leaderboard-section"><h2>Leaderboard</h2>'
        '<input id="filter" type="search" placeholder="filter rows (detector, dataset, run)">'
        f"{rendered}"
        '<p class="note">One row per (detector, train set, test set); imbalance rows are means '
        "over seeds. Best per column in bold. Click a run to jump to its section.</p></section>"
    )


def _link_runs(rendered: str, entries: Sequence[Entry]) -> str:
    """Turn each row's last cell into a link to its section (rows are in entry order)."""
    head, _, body = rendered.partition("<tbody>")
    rows = body.split("</tr>")
    for i, entry in enumerate(entries):
        cell = f">{esc(entry.folder)}</td>"
        link = f'><a href="#{esc(entry.anchor)}">{esc(entry.folder)}</a></td>'
        position = rows[i].rfind(cell)
        rows[i] = rows[i][:position] + link + rows[i][position + len(cell) :]
    return head + "<tbody>" + "</tr>".join(rows)


def render_page(
    folders: Sequence[RunFolderContents],
    *,
    feature_map: str = "auto",
    here: dict[str, Any] | None = None,
    title: str | None = None,
) -> str:
    """The whole page: a leaderboard when there are several folders, then one section each."""
    here = here or {}
    title = title or (
        f"dfshield report: {folders[0].path.name}" if len(folders) == 1 else "dfshield leaderboard"
    )
    parts = []
    if len(folders) > 1:
        parts.append(leaderboard_section(leaderboard_entries(list(folders))))
        links = "".join(f'<a href="#run-{i}">{esc(c.path.name)}</a>' for i, c in enumerate(folders))
        parts.insert(0, f"<nav>Run folders: {links}</nav>")
    parts += [folder_section(i, c, feature_map, here) for i, c in enumerate(folders)]
    made = time.strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><p>made {made} by dfshield '
        f"{esc(here.get('dfshield', ''))}; self-contained: open it anywhere, offline.</p></header>"
        f"<main>{''.join(parts)}</main><script>{SCRIPT}</script></body></html>\n"
    )


__all__ = ["render_page", "SECTIONS", "slug"]
