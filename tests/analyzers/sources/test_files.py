"""Files and stdin as sources."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from analyzers import ingest
from analyzers.errors import SourceError
from analyzers.sources import files
from instrumentation import schema as s

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_plain_and_gzip_files_read_the_same(tmp_path):
    raw = (FIXTURES / "celery_plain.log").read_bytes()
    gz = tmp_path / "no-suffix"  # recognized by its magic bytes, not its name
    gz.write_bytes(gzip.compress(raw))
    (_, a), (name_b, b) = files.open_sources([FIXTURES / "celery_plain.log", gz])
    assert b"".join(a) == b"".join(b) == raw
    assert name_b == str(gz)


def test_stdin_for_no_path_or_dash():
    data = (FIXTURES / "worker.jsonl").read_bytes()
    for paths in (None, [], ["-"]):
        [(name, chunks)] = files.open_sources(paths, stdin=io.BytesIO(data))
        assert name == "stdin" and b"".join(chunks) == data
    [(_, chunks)] = files.open_sources(["-"], stdin=io.BytesIO(gzip.compress(data)))
    assert b"".join(chunks) == data


def test_large_input_comes_in_blocks(tmp_path):
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * (files.BLOCK * 2 + 10))
    [(_, chunks)] = files.open_sources([big])
    assert [len(c) for c in chunks] == [2, files.BLOCK, files.BLOCK, 8]


def test_errors_name_the_file_before_reading_any(tmp_path):
    good = FIXTURES / "worker.jsonl"
    with pytest.raises(SourceError, match=r"nope\.log: no such file"):
        files.open_sources([good, tmp_path / "nope.log"])
    with pytest.raises(SourceError, match="is a directory"):
        files.open_sources([tmp_path])


def test_corrupt_gzip_is_a_source_error(tmp_path):
    bad = tmp_path / "cut.gz"
    data = b"".join(b"line %d\n" % (i * 7919 % 100_003) for i in range(20_000))
    packed = gzip.compress(data)
    bad.write_bytes(packed[: len(packed) // 2])
    [(_, chunks)] = files.open_sources([bad])
    with pytest.raises(SourceError, match=r"cut\.gz: cannot read"):
        ingest.read_sources([(str(bad), chunks)])


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    r = ingest.read_sources(files.open_sources([empty]))
    assert r.lines_read == 0 and list(r.frame.columns)[-1] == s.RAW
