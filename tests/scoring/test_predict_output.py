"""The output of ``dfshield predict``: the rows file is replaced whole or not at all, and
``--out`` names a ``.csv`` or ``.json`` file."""

from __future__ import annotations

import csv

import pytest

from dfshield.errors import ConfigError
from dfshield.scoring import predict_output
from dfshield.scoring.predict import COLUMNS


def a_row(path: str) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(path=path, kind="image", prob_fake=0.25, status="ok", message="")
    return row


def test_the_rows_file_is_replaced_whole(tmp_path):
    out = tmp_path / "rows.csv"
    predict_output.write_rows(out, [a_row("a.png")], {})
    assert [row["path"] for row in csv.DictReader(out.open())] == ["a.png"]

    def fails(value):
        raise OSError("disk full")

    before = out.read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(predict_output, "_csv_cell", fails)
        with pytest.raises(OSError, match="disk full"):
            predict_output.write_rows(out, [a_row("b.png")], {})
    assert out.read_bytes() == before  # a failed write leaves the previous file whole


def test_rows_file_must_be_csv_or_json(tmp_path):
    with pytest.raises(ConfigError, match=r"\.csv or \.json"):
        predict_output.check_rows_path(tmp_path / "rows.txt")
