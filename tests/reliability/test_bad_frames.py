"""Bad frames in a dataset or among the inputs of a command: one pixel cap for every decoded
frame, checked from the header; empty and tiny files are named errors, never a crash."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest

from dfshield.data.checks import check_dataset
from dfshield.errors import DataError
from dfshield.media.frames import decode_image
from dfshield.media.pipeline import MediaOptions, read_media
from dfshield.scoring.predict import PredictOptions, predict_media
from dfshield.scoring.predict_output import format_rows
from dfshield.scoring.scorer import Threshold
from tests.helpers import write_toy_dataset


def png_header(width: int, height: int) -> bytes:
    """A PNG file that claims ``width`` x ``height`` pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def replace_first_frame(dataset: dict, data: bytes) -> str:
    """Put ``data`` in place of the first frame of the dataset's LMDB; returns its key."""
    env = lmdb.open(f"{dataset['lmdb_dir']}/{dataset['name']}_lmdb", subdir=True)
    with env.begin(write=True) as txn:
        key = next(k for k, _ in txn.cursor() if k.endswith(b".png"))
        txn.put(key, data)
    env.close()
    return key.decode()


def never_decoded(*args, **kwargs):
    raise AssertionError("the image was decoded")


def test_dataset_frame_over_the_pixel_cap_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(cv2, "imdecode", never_decoded)
    with pytest.raises(DataError, match=r"30000 x 30000 pixels .*\(data\.max_pixels 50000000\)"):
        decode_image(png_header(30000, 30000), "frames/0.png", "Toy")
    with pytest.raises(DataError, match=r"3 x 2 pixels .*\(data\.max_pixels 5\)"):
        decode_image(png_header(3, 2), "frames/0.png", "Toy", max_pixels=5)


@pytest.mark.parametrize("size", [0, 1, 3])
def test_empty_or_tiny_image_is_an_error_of_its_own(tmp_path, size):
    path = tmp_path / "tiny.png"
    path.write_bytes(b"\x89PNG"[:size])
    media = read_media(path, MediaOptions(image_framing="none", video_framing="none"))
    ((file, message),) = media.errors
    assert file == str(path) and "tiny.png" in message and media.frames == []


def test_data_info_reports_a_frame_over_the_pixel_cap(tmp_path):
    dataset = write_toy_dataset(tmp_path, n_real=4, n_fake=4, frames_per_video=1)
    key = replace_first_frame(dataset, png_header(30000, 30000))
    report = check_dataset(dataset["name"], dataset["json_dir"], dataset["lmdb_dir"], workers=1)
    assert not report.ok
    assert "30000 x 30000 pixels" in report.format()
    assert key.split("\\")[-1].split("/")[-1] in report.format()


class StubScorer:
    """Enough of a Scorer for inputs that never reach the detector."""

    threshold = Threshold(0.5, "fixed", "given")
    checkpoint, device, mode, clip_size = "stub.pt", "cpu", "frame", 1


def predict(inputs: list[str]) -> tuple[list[dict], list[str]]:
    messages: list[str] = []
    options = PredictOptions(face_crop="never")
    return predict_media(StubScorer(), inputs, options, warn=messages.append), messages


def test_empty_and_tiny_images_are_error_rows_of_predict(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "tiny.jpg").write_bytes(b"\xff\xd8")
    rows, messages = predict([str(tmp_path)])
    assert [(Path(row["path"]).name, row["status"]) for row in rows] == [
        ("empty.png", "error"),
        ("tiny.jpg", "error"),
    ]
    assert len(messages) == 2


def test_names_reach_the_terminal_escaped(tmp_path):
    name = tmp_path / "x\x1b[2J\x1b]0;owned\x07.txt"
    name.write_text("")
    rows, messages = predict([str(name)])
    table = format_rows(rows)
    for text in [table, *messages, *(row["path"] for row in rows)]:
        assert "\x1b" not in text and "\x07" not in text
    assert "x\\x1b[2J\\x1b]0;owned\\x07.txt" in table


def test_build_and_extra_test_sets_list_an_empty_image_and_go_on(tmp_path):
    from dfshield.scoring.extra_test_sets import convert_folder
    from tests.helpers import toy_image

    rng = np.random.default_rng(0)
    for name in ("real", "fake"):
        (tmp_path / "set" / name).mkdir(parents=True)
        for i in range(2):
            image = toy_image(rng, fake=name == "fake", size=64)
            assert cv2.imwrite(str(tmp_path / "set" / name / f"{i}.png"), image)
    (tmp_path / "set" / "fake" / "empty.png").write_bytes(b"")
    stamp = convert_folder(tmp_path / "set", tmp_path / "cache", "extra-set")
    assert stamp["videos"] == {"real": 2, "fake": 2}
    ((file, reason),) = stamp["unreadable"]
    assert file.endswith("empty.png") and "empty" in reason


def test_data_info_takes_the_pixel_cap_of_the_config(tmp_path, capsys):
    from dfshield import cli

    dataset = write_toy_dataset(tmp_path, n_real=4, n_fake=4, frames_per_video=1)
    argv = ["data-info", "--dataset", dataset["name"], "--json-dir", dataset["json_dir"]]
    argv += ["--lmdb-dir", dataset["lmdb_dir"]]
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--max-pixels", "100"]) == 1  # the toy frames are 32 x 32
    assert "32 x 32 pixels" in capsys.readouterr().out
