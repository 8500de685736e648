"""The machine contract: the report as one JSON document (``docs/report.md`` describes it).

    >>> doc = render_json(report)      # str
    >>> json.loads(doc)["tasks"]["failed"]
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from analyzers.report import Report
from analyzers.report.tables import to_records


def _fallback(value: Any) -> Any:
    # Never fail on an odd value: a report that cannot be written helps nobody.
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def dumps(document: Any, *, indent: bool = True) -> str:
    """JSON text of any JSON-ready document (sorted keys off: sections keep their order)."""
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    if indent:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(document, default=_fallback, option=option).decode() + "\n"


def render_json(report: Report, *, indent: bool = True) -> str:
    """The report's ``to_dict()`` as JSON text."""
    return dumps(report.to_dict(), indent=indent)


def render_frame_json(frame: pd.DataFrame, key: str = "records") -> str:
    """Any frame as ``{key: [rows]}`` JSON (timelines)."""
    return dumps({key: to_records(frame)})
