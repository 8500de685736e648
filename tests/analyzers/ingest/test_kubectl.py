"""kubectl.other_kinds: the first pattern a line matches decides its kind, as in the order of
OTHER_RULES, though each pattern only sees the lines earlier ones left."""

from __future__ import annotations

import re

import polars as pl

from analyzers.ingest import kubectl

LINES = [
    " -------------- celery@worker-1 v5.4.0 (opalescent)",  # banner, though indented
    "  File \"/app/tasks.py\", line 3, in add",  # continuation
    "Traceback (most recent call last):",
    "--- ***** -----",  # a banner line
    "[tasks]",
    "2026-11-28 11:50:32,160 INFO MainProcess hello",  # another format's record
    "worker: Warm shutdown INFO",  # a level name: a record, not an exception line
    "[1, 2, 3]",  # JSON that is not an object
    "ValueError: bad input",  # a traceback's last line
    "ValueError",
    "just some words",  # plain
    "",
]


def _first_match(line: str) -> str:
    for pattern, kind in kubectl.OTHER_RULES:
        if re.search(pattern, line):
            return kind
    return kubectl.PLAIN


def test_other_kinds_is_the_first_matching_rule() -> None:
    got = kubectl.other_kinds(pl.Series(kubectl.BODY, LINES)).to_list()
    assert got == [_first_match(line) for line in LINES]
    assert got[:3] == [kubectl.BANNER, kubectl.CONT, kubectl.CONT]
    assert got[-2] == kubectl.PLAIN


def test_other_kinds_of_no_lines() -> None:
    assert kubectl.other_kinds(pl.Series(kubectl.BODY, [], dtype=pl.String)).to_list() == []
