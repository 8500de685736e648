"""The small templating the query files are written in: field names come from the schema.

A query file never spells a field; it names the schema constant and lets this module write the
path, so a renamed or removed field fails at render time (and in the tests), not in the
console. Placeholders, resolved with :meth:`str.format`:

==========================  =====================================================================
``{f.TASK_NAME}``           Logging query language path: ``jsonPayload.task_name``
                            (promoted fields map to the LogEntry: ``{f.SEVERITY}`` ->
                            ``severity``, ``{f.TIME}`` -> ``timestamp``)
``{n.TASK_NAME}``           the bare field name: ``task_name`` (label keys, SQL aliases)
``{j.TASK_NAME}``           SQL, the field as a string: ``JSON_VALUE(json_payload, '$.task_name')``
``{num.DURATION_MS}``       SQL, the field as a number (``SAFE_CAST(... AS FLOAT64)``)
``{e.TASK_FAILED}``         an event name: ``task_failed``
``{k8s.REASON}``            a Kubernetes Event field (``jsonPayload.reason``), for the one query
                            over the cluster's own events log; not ours, listed in
                            :data:`K8S_EVENT_FIELDS`
``{project}`` ...           a parameter (see :func:`parameters`)
==========================  =====================================================================

Literal braces (regex repetitions) are doubled: ``{{2}}``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from instrumentation import schema

#: The fields of Kubernetes Event objects (``logs/events``) the health-probe query reads.
K8S_EVENT_FIELDS = {
    "REASON": "jsonPayload.reason",
    "MESSAGE": "jsonPayload.message",
    "NAMESPACE": "jsonPayload.involvedObject.namespace",
    "KIND": "jsonPayload.involvedObject.kind",
    "NAME": "jsonPayload.involvedObject.name",
}


def _constant(attr: str) -> str:
    if not attr.isupper() or not isinstance(getattr(schema, attr, None), str):
        raise KeyError(f"schema has no field constant {attr}")
    return getattr(schema, attr)


class _Namespace:
    """``{x.CONSTANT}`` -> ``render(schema.CONSTANT)``; unknown constants raise KeyError."""

    def __init__(self, render: Any) -> None:
        self._render = render

    def __getattr__(self, attr: str) -> str:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._render(attr)


def _event(attr: str) -> str:
    try:
        return schema.Event[attr].value
    except KeyError:
        raise KeyError(f"schema.Event has no member {attr}") from None


def _k8s(attr: str) -> str:
    if attr not in K8S_EVENT_FIELDS:
        raise KeyError(f"{attr} is not a known Kubernetes Event field")
    return K8S_EVENT_FIELDS[attr]


def sql_path(name: str) -> str:
    """JSONPath of a field inside ``json_payload``; the name must be a schema field."""
    return f"$.{schema.check_field(name)}"


def _sql_string(attr: str) -> str:
    name = _constant(attr)
    promoted = {schema.SEVERITY: "severity", schema.TIME: "timestamp"}
    if name in promoted:
        return promoted[name]
    return f"JSON_VALUE(json_payload, '{sql_path(name)}')"


def _sql_number(attr: str) -> str:
    return f"SAFE_CAST({_sql_string(attr)} AS FLOAT64)"


NAMESPACES: dict[str, _Namespace] = {
    "f": _Namespace(lambda attr: schema.jsonpayload(_constant(attr))),
    "n": _Namespace(lambda attr: schema.check_field(_constant(attr))),
    "j": _Namespace(_sql_string),
    "num": _Namespace(_sql_number),
    "e": _Namespace(_event),
    "k8s": _Namespace(_k8s),
}


def parameters(text: str) -> set[str]:
    """Names of the plain ``{param}`` placeholders in ``text`` (not the namespaced ones)."""
    names = set()
    for _, field_name, _, _ in string.Formatter().parse(text):
        if field_name is None:
            continue
        root = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if root and root not in NAMESPACES:
            names.add(root)
    return names


class MissingParameter(KeyError):
    """A query needs a parameter that was not given."""


def render(text: str, params: Mapping[str, Any],
           namespaces: Mapping[str, Any] | None = None) -> str:
    """Fill ``text``'s placeholders; a missing parameter raises :class:`MissingParameter`.

    ``namespaces`` replaces some of :data:`NAMESPACES` (e.g. ``j`` and ``num`` for a table
    whose columns are the fields themselves).
    """
    missing = parameters(text) - set(params)
    if missing:
        raise MissingParameter(", ".join(sorted(missing)))
    return text.format_map({**params, **NAMESPACES, **(namespaces or {})})


#: Paths a rendered Logging query may name outside jsonPayload (LogEntry and resource fields).
_JSONPAYLOAD = re.compile(r"\bjsonPayload\.([A-Za-z_][\w.]*)")
_SQL_PATH = re.compile(r"json_payload\s*,\s*'\$\.([A-Za-z_]\w*)'")


def payload_fields(rendered: str) -> set[str]:
    """Every ``jsonPayload.<field>`` (Logging) and ``json_payload, '$.<field>'`` (SQL) path in a
    rendered query, whether it came from a placeholder or was typed in by hand."""
    return {*_JSONPAYLOAD.findall(rendered), *_SQL_PATH.findall(rendered)}
