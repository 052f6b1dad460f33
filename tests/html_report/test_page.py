"""The report page, parsed: every section for every kind of run folder, the same numbers as
results.md, nothing loaded from elsewhere, every image a decodable PNG."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import pytest
from PIL import Image

from dfshield.html_report import build_report, write_report
from dfshield.html_report.page import SECTIONS
from tests.helpers import (
    write_bank,
    write_comparison,
    write_detector_run,
    write_imbalance_folder,
    write_reproduce_folder,
    write_robustness_folder,
)


class Page(HTMLParser):
    """Tags with their attributes, and the cells of every table (text and classes)."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self._table: list | None = None
        self._cell: list | None = None
        self.text = text
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = []
            self.tables[attributes.get("id") or f"table-{len(self.tables)}"] = self._table
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = [attributes.get("class") or "", ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append((self._cell[1], self._cell[0]))
            self._cell = None
        elif tag == "table":
            self._table = None

    def find(self, tag, **attributes):
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k) == v for k, v in attributes.items())
        ]


def check_self_contained(page: Page) -> None:
    """No resource from elsewhere; every image a PNG that decodes."""
    assert page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    assert not page.find("link")
    assert all("src" not in a for a in page.find("script"))
    for _, attributes in page.tags:
        assert not attributes.get("href", "#").startswith(("http", "//", "file"))
    assert "url(" not in page.text and "@import" not in page.text
    for attributes in page.find("img"):
        prefix = "data:image/png;base64,"
        assert attributes["src"].startswith(prefix)
        image = Image.open(io.BytesIO(base64.b64decode(attributes["src"][len(prefix) :])))
        image.load()
        assert image.width > 100 and image.height > 100


def write_folder(kind: str, tmp_path):
    """A run folder of one kind the report reads."""
    folder = tmp_path / kind.replace(" ", "-")
    if kind == "still training":
        write_detector_run(folder / "alpha", "alpha", tested=False)
    elif kind == "old":
        write_comparison(folder)
        for name in ("alpha", "beta"):
            (folder / name / "config.json").unlink()
            (folder / name / "log.csv").unlink()
    elif kind == "train":
        write_detector_run(folder, "alpha")
    elif kind == "compare":
        write_comparison(folder, extra_tests=("Other",))
    elif kind == "empty":
        folder.mkdir()
    else:
        writers = {
            "imbalance": write_imbalance_folder,
            "reproduce": write_reproduce_folder,
            "robustness": write_robustness_folder,
        }
        writers[kind](folder)
    return folder


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """``pages(kind)``: the folder and parsed page of that kind, made once per module (each
    kind in the first test that asks for it, so that no test pays for all of them)."""
    tmp_path = tmp_path_factory.mktemp("folders")
    made: dict = {}

    def page(kind: str):
        if kind not in made:
            folder = write_folder(kind, tmp_path)
            made[kind] = folder, Page(build_report([folder], feature_map="none"))
        return made[kind]

    return page


SLOW = pytest.mark.slow  # 5 to 10 s on 2 cores shared with other jobs: many figures


@pytest.mark.parametrize(
    "kind",
    ["train", "still training", "old", "reproduce", "robustness", "empty"]
    + [pytest.param("compare", marks=SLOW), pytest.param("imbalance", marks=SLOW)],
)
def test_every_section_is_present_and_self_contained(pages, kind):
    _, page = pages(kind)
    (section,) = page.find("section")
    assert section["id"] == "run-0"
    shown = [a["data-section"] for a in page.find("div") if "data-section" in a]
    assert shown == list(SECTIONS)
    check_self_contained(page)


def test_the_results_table_has_the_numbers_and_marks_of_results_md(pages):
    path, page = pages("compare")
    markdown = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in (path / "results.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith(("| Detector", "| ---"))
    ]
    table = next(t for t in page.tables.values() if t[0][0][0] == "Detector")
    assert [h for h, _ in table[0]][2:] == [
        "ACC",
        "AUC",
        "F1",
        "Precision",
        "Recall",
        "EER",
        "AP",
        "video AUC",
        "ACC@val-EER",
    ]
    for md_row, html_row in zip(markdown, table[1:], strict=True):
        assert md_row[0] == html_row[0][0]
        for md_cell, (text, classes) in zip(md_row[1:], html_row[2:], strict=True):
            assert md_cell.strip("*") == text
            assert md_cell.startswith("**") == ("best" in classes)


def test_several_test_sets_draw_the_train_by_test_heatmap(pages):
    assert pages("compare")[1].find("img", alt="train x test AUC heatmap")
    assert not pages("train")[1].find("img", alt="train x test AUC heatmap")
    curves = pages("compare")[1].find("img", alt="ROC and PR, Other")
    assert curves, "the extra test set has its own ROC / PR figure"


def test_missing_pieces_are_shown_not_raised(pages):
    text = pages("still training")[0] / "report.html"
    _, page = pages("still training")
    assert page.find("div", **{"class": "missing section-missing"})
    assert not page.find("img", alt="ROC and PR, Toy test")
    assert page.find("img", alt="training curves"), "the log of a running run is drawn"
    assert not text.exists(), "build_report writes nothing"
    old = pages("old")[1]
    assert old.find("img", alt="ROC and PR, test split") and not old.find(
        "img", alt="training curves"
    )


@SLOW
def test_studies_draw_their_own_plot(pages):
    assert pages("imbalance")[1].find("img", alt="imbalance")
    assert pages("robustness")[1].find("img", alt="robustness")
    assert pages("reproduce")[1].find("img", alt="reproduce")


def test_reproduce_colours_the_difference_by_what_is_better(pages):
    _, page = pages("reproduce")
    table = next(t for t in page.tables.values() if t[0][-1][0] == "difference")
    colours = {(row[0][0], row[1][0]): row[4] for row in table[1:]}
    assert colours[("Alpha", "AUC")] == ("+2.5", "good")
    assert colours[("Alpha", "EER")] == ("+4.0", "bad")  # EER: higher is worse
    assert colours[("Beta", "AUC")] == ("-6.0", "bad")
    assert colours[("Beta", "EER")] == ("—", "")


@SLOW
def test_the_feature_map_is_drawn_and_says_which_projection(tmp_path):
    write_bank(tmp_path / "out" / "feature_cache", "Toy.json")
    folder = write_comparison(tmp_path / "cmp", output_dir=str(tmp_path / "out"))
    text = build_report([folder], feature_map="pca")
    page = Page(text)
    assert page.find("img", alt="feature map")
    assert "PCA of the frozen backbone&#x27;s features: all 60 rows." in text
    check_self_contained(page)


@pytest.mark.slow  # about 3 s alone, 8 s on a loaded machine: two folders of figures
def test_several_folders_make_a_leaderboard_linking_to_their_rows(tmp_path):
    first = write_comparison(tmp_path / "cmp", extra_tests=("Other",))
    second = tmp_path / "train"
    write_detector_run(second, "gamma")
    out = write_report([first, second], tmp_path / "board.html", feature_map="none")
    text = out.read_text()
    page = Page(text)
    board = page.tables["leaderboard"]
    rows = [[text for text, _ in row] for row in board[1:]]
    assert [row[:3] for row in rows] == [
        ["alpha", "Toy", "Toy test"],
        ["alpha", "Toy", "Other"],
        ["beta", "Toy", "Toy test"],
        ["beta", "Toy", "Other"],
    ], "the train folder has no results.json yet, so no row"
    ids = {a.get("id") for _, a in page.tags}
    links = [a["href"] for a in page.find("a") if a.get("href", "").startswith("#run-0-")]
    assert len(links) == 4 and all(link[1:] in ids for link in links)
    assert page.find("input", id="filter")
    assert len(page.find("section", **{"class": "folder"})) == 3
