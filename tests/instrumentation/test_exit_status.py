"""The README's exit-status table and the ExitStatus enum say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

from instrumentation.exit_status import ExitStatus

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_lists_every_status_with_its_value() -> None:
    text = README.read_text()
    section = text[text.index("## Exit statuses"):]
    section = section[: section.index("\n## ", 1)]
    rows = dict(
        (name, int(value))
        for value, name in re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", section, re.MULTILINE)
    )
    assert rows == {status.name: status.value for status in ExitStatus}
