"""The real-world samples (tests/fixtures/realworld) hang together: each log belongs to its
truth, and each truth adds up. (Whether the analyzer reads them right is the next step; what
it gets today is in tests/fixtures/realworld/EXPECTED.md.)"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.fixtures.realworld import SAMPLES, load

STOCK = [n for n in SAMPLES if n != "instrumented_prefork"]


def test_every_setup_is_recorded():
    assert set(SAMPLES) >= {
        "default_prefork", "custom_format_threads", "debug_solo", "jsonlogger_prefork",
        "jsonlogger_renamed_prefork", "structlog_prefork", "stdlib_json_threads",
        "kubectl_2pod", "cloud_logging_text", "cloud_logging_json", "instrumented_prefork"}


@pytest.mark.parametrize("name", SAMPLES)
def test_truth_adds_up(name):
    truth = load(name).truth
    c = truth.counts
    states = Counter(t["state"] for t in truth.tasks)
    assert c["tasks"] == len(truth.tasks) == sum(states.values())
    assert (c["succeeded"], c["failed"], c["revoked"]) == (
        states["SUCCESS"], states["FAILURE"], states["REVOKED"])
    assert sum(sum(v.values()) for v in truth.failures.values()) == c["failed"]
    assert c["retries"] == sum(t["retries"] for t in truth.tasks)
    assert c["retry_recovered"] + c["retry_exhausted"] == c["retried_tasks"]
    assert set(truth.chord["members"]) == set(truth.ids(kind="chord_member"))
    # The workload is the same everywhere; only prefork has a pool process to kill.
    prefork = truth.raw["pool"] == "prefork"
    assert c["worker_lost"] == c["worker_lost_requeued_then_succeeded"] == int(prefork)
    assert c["tasks"] == 23 + int(prefork) and c["failed"] == 7


@pytest.mark.parametrize("name", SAMPLES)
def test_log_belongs_to_its_truth(name):
    """Every task id the workload sent is in the log (the revoked one included), and nothing
    from another run is: each id in the log's ``name[id]`` sentences is in the truth."""
    sample = load(name)
    text = sample.text()
    assert len(text.encode()) < 100_000
    for task in sample.truth.tasks:
        assert task["id"] in text, (name, task)
    if name in STOCK:
        logged = set(re.findall(r"rw\.\w+\[([0-9a-f-]{36})\]", text))
        assert logged == {t["id"] for t in sample.truth.tasks}
