"""A local data file is checked before ``datasets`` reads it: empty, a directory, undecodable bytes."""

from __future__ import annotations

import gzip

import pytest

from lightning_bias.data.sources import file_checks
from lightning_bias.data.sources.encoding import ColumnMapping
from lightning_bias.data.sources.file_checks import (
    check_data_file,
    check_encoding_name,
    first_undecodable_byte,
)
from lightning_bias.data.sources.files import FilesSource
from lightning_bias.data.sources.text_files import TextFilesSource

# "é" (2 bytes in UTF-8) then a lone latin-1 "é" at offset 9
TEXT = "caf\u00e9 au ".encode() + b"\xe9t\xe9\n"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
def test_first_bad_byte_offset_does_not_depend_on_chunking(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(file_checks, "_CHUNK", chunk)
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT)
    assert first_undecodable_byte(path, "utf-8") == (9, 0xE9)
    assert first_undecodable_byte(path, "latin-1") is None


def test_truncated_character_at_the_end_and_gzip_offsets(tmp_path):
    truncated = tmp_path / "t.txt"
    truncated.write_bytes(b"abc\xc3")
    assert first_undecodable_byte(truncated, "utf-8") == (3, 0xC3)
    packed = tmp_path / "t.txt.gz"
    packed.write_bytes(gzip.compress(TEXT))
    assert first_undecodable_byte(packed, "utf-8") == (9, 0xE9)  # offsets of the decompressed text
    with pytest.raises(ValueError, match=r"offset 9 of the decompressed text .* data\.encoding"):
        check_data_file(str(packed), "data.path", "utf-8")


def test_empty_directory_broken_gzip_and_binary_formats(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"data\.files\.val: file '.*e\.csv' is empty"):
        check_data_file(str(empty), "data.files.val", "utf-8")
    with pytest.raises(ValueError, match="is a directory"):
        check_data_file(str(tmp_path), "data.path", "utf-8")
    broken = tmp_path / "b.csv.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"data\.files\.train: could not read"):
        check_data_file(str(broken), "data.files.train", "utf-8")
    binary = tmp_path / "x.parquet"
    binary.write_bytes(b"\xff\xfe\x00")
    check_data_file(str(binary), "data.files.train", None)  # no encoding: bytes are not text


def test_unknown_encoding_is_named_at_construction():
    check_encoding_name("latin-1", "data.encoding")
    with pytest.raises(ValueError, match="data.encoding: unknown text encoding 'utf-9'"):
        check_encoding_name("utf-9", "data.encoding")
    with pytest.raises(ValueError, match="data.encoding"):
        FilesSource({"train": "a.csv"}, encoding="utf-9")
    with pytest.raises(ValueError, match="data.encoding"):
        TextFilesSource("a.txt", encoding="utf-9")


def test_invalid_utf8_jsonl_is_caught_before_reading(tmp_path):
    # the JSON reader does not check UTF-8 itself: the bad byte would fail later, far from the file
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"data\.path: file .*c\.jsonl' is not valid utf-8 text: byte 0xe9 at offset 28"):
        TextFilesSource(str(path)).read()


@pytest.mark.parametrize(("name", "content"), [
    ("c.txt", "caf\u00e9\nna\u00efve\n"),
    ("c.jsonl", '{"text": "caf\u00e9"}\n{"text": "na\u00efve"}\n'),
    ("c.csv", "text\ncaf\u00e9\nna\u00efve\n"),
])
def test_corpus_files_in_another_encoding(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    read = TextFilesSource(str(path), encoding="latin-1").read()
    assert read.table["text"] == ["caf\u00e9", "na\u00efve"]


def test_labelled_files_in_another_encoding(tmp_path):
    path = tmp_path / "bios.csv"
    rows = "".join(f"Caf\u00e9 owner {i},{job},{gender}\n" for i in range(4)
                   for job, gender in [("chef", "male"), ("nurse", "female")])
    path.write_bytes(("bio,occupation,gender\n" + rows).encode("cp1252"))
    source = FilesSource({"train": str(path)}, columns=ColumnMapping(text="bio", label="occupation", group="gender"),
                         encoding="cp1252")
    splits = source.load()
    assert splits.tables["train"]["text"][0] == "Caf\u00e9 owner 0"
    assert splits.label_names == ["chef", "nurse"]
