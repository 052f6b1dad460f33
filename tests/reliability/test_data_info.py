"""``data-info`` says a dataset is unusable (exit 1) when its JSON labels the same frames real
and fake, lists a video in two splits, or repeats a key (a repeated top-level key empties every
split)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfshield import cli
from tests.helpers import write_toy_dataset


@pytest.fixture
def toy(tmp_path) -> dict:
    dataset = write_toy_dataset(tmp_path, n_real=8, n_fake=8, frames_per_video=1)
    dataset["json"] = Path(dataset["json_dir"]) / f"{dataset['name']}.json"
    return dataset


def data_info(toy: dict, capsys) -> tuple[int, str]:
    argv = ["data-info", "--dataset", toy["name"], "--json-dir", toy["json_dir"]]
    code = cli.main([*argv, "--lmdb-dir", toy["lmdb_dir"]])
    return code, capsys.readouterr().out


def edit(toy: dict, change) -> None:
    info = json.loads(toy["json"].read_text())
    change(info[toy["name"]], toy["name"])
    toy["json"].write_text(json.dumps(info))


def test_a_sound_dataset_is_ok(toy, capsys):
    code, out = data_info(toy, capsys)
    assert code == 0 and out.rstrip().endswith("OK")


def test_frames_labelled_real_and_fake_are_a_conflict(toy, capsys):
    def relabel(info, name):  # a fake training video listed again as real
        video, entry = next(iter(info[f"{name}_fake"]["train"].items()))
        info[f"{name}_real"]["train"][video + "-again"] = {**entry, "label": f"{name}_real"}

    edit(toy, relabel)
    code, out = data_info(toy, capsys)
    assert code == 1 and "labelled both real and fake" in out


def test_a_video_in_two_splits_is_named(toy, capsys):
    def leak(info, name):  # a training video copied into the test split
        video, entry = next(iter(info[f"{name}_real"]["train"].items()))
        info[f"{name}_real"]["test"][video] = entry

    edit(toy, leak)
    code, out = data_info(toy, capsys)
    assert code == 1 and "in more than one split" in out and "(test, train)" in out


def test_a_repeated_top_level_key_is_named(toy, capsys):
    text = toy["json"].read_text()
    toy["json"].write_text(text[:-1] + f', "{toy["name"]}": {{}}}}')  # the key again, empty
    code, out = data_info(toy, capsys)
    assert code == 1
    assert f"key(s) '{toy['name']}' written more than once at the top level" in out
