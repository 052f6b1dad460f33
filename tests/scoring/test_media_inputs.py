"""The inputs of ``dfshield predict``: folders searched recursively in sorted order, and one
``error`` item with a message per input that is not media."""

from __future__ import annotations

from dfshield.scoring.media_inputs import discover, printable


def test_folders_files_and_bad_inputs_become_items(tmp_path):
    folder = tmp_path / "media"
    (folder / "deep").mkdir(parents=True)
    (folder / "b.png").write_bytes(b"")
    (folder / "deep" / "a.mp4").write_bytes(b"")
    (folder / "notes.txt").write_text("not media")
    (folder / ".hidden.png").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    items = discover([str(folder), str(tmp_path / "empty"), str(tmp_path / "missing.png")])
    assert [(item.path.name, item.kind) for item in items] == [
        ("b.png", "image"),
        ("a.mp4", "video"),
        ("notes.txt", "error"),
        ("empty", "error"),
        ("missing.png", "error"),
    ]
    assert "not an image or video" in items[2].message
    assert "holds no images or videos" in items[3].message
    assert items[4].message == "no such file or folder"


def test_names_that_are_not_utf8_are_escaped():
    assert printable(b"caf\xe9.png".decode("utf-8", "surrogateescape")) == "caf\\xe9.png"
