"""The README's first command: the bundled sample of a real worker run is analyzed right.

The counts are checked against the sample read independently (json module, line by line);
the stuck chord against what scripts/make_examples.py did (deleted the size key of the one
run of tenant org-globex, then the chord monitor reported it).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from analyzers.cli import main
from instrumentation import schema

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "worker.jsonl"


def test_quick_start_report_matches_the_sample() -> None:
    records = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    events = Counter(r[schema.EVENT] for r in records)
    result = CliRunner().invoke(main, ["analyze", str(SAMPLE), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["lines"]["read"] == len(records) and report["lines"]["unparsed"] == 0
    tasks = report["tasks"]
    assert tasks["received"] == events[schema.Event.TASK_RECEIVED]
    assert tasks["succeeded"] == events[schema.Event.TASK_SUCCEEDED]
    assert tasks["retried"] == events[schema.Event.TASK_RETRIED]
    assert tasks["failed"] == len({r[schema.TASK_ID] for r in records
                                   if r[schema.EVENT] == schema.Event.TASK_FAILED})
    assert sum(row["count"] for row in report["failures"]) == tasks["failed"]

    (stuck,) = report["stuck_chords"]
    monitor = next(r for r in records if r[schema.EVENT] == schema.Event.CHORD_STUCK)
    assert stuck[schema.CHORD_ID] == monitor[schema.CHORD_ID]
    assert stuck[schema.ORGANIZATION_ID] == "org-globex"
    assert stuck[schema.CHORD_CALLBACK_NAME] == "rhesis.execution.collect_results"
    assert stuck[schema.CHORD_CALLBACK_ID] == monitor[schema.CHORD_CALLBACK_ID]


def test_kubectl_sample_reads_like_the_json_sample() -> None:
    """The same worker lines as kubectl prints them: same task counts, pods named."""
    kubectl = Path(SAMPLE.parent, "kubectl.log")
    result = CliRunner().invoke(main, ["analyze", str(kubectl), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    worker_lines = [json.loads(line.split(" ", 2)[2]) for line in kubectl.read_text().splitlines()]
    received = sum(1 for r in worker_lines if r[schema.EVENT] == schema.Event.TASK_RECEIVED)
    assert report["lines"]["unparsed"] == 0
    assert report["tasks"]["received"] == received
