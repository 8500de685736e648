"""The query files in ``queries/``, loaded and rendered for one project, cluster and namespace.

    from queries.catalog import load, Context

    catalog = load()
    ctx = Context(project="my-project", cluster="prod", namespace="workers", window="1h")
    print(catalog.get("failures").render(ctx))            # a Logging filter
    catalog.get("metric/task_failures").body(ctx)          # a LogMetric REST body (dict)
    catalog.get("sql/failures").render(ctx)                # Log Analytics SQL

Names: a saved query is its file stem (``failures``); the others are prefixed by their kind:
``metric/<stem>``, ``policy/<stem>``, ``sql/<stem>``. Every file starts with ``-- key: value``
(``.lql``/``.sql``) or ``#`` (YAML) comment lines; ``title``, ``description``, ``summary``
(schema constants shown as columns in Logs Explorer) and ``param: name[=default]`` are read
from them. A parameter without a default that is not given renders as ``<name>`` so the saved
query can still be installed and filled in the console.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from instrumentation import schema
from queries import template

HERE = Path(__file__).resolve().parent

SAVED, METRIC, POLICY, SQL = "saved", "metric", "policy", "sql"
KINDS = (SAVED, METRIC, POLICY, SQL)

#: Parameters every query gets from the context (not from ``--param``).
CONTEXT_PARAMS = frozenset({"project", "resource", "events_resource", "table", "where", "now"})
_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class QueryError(ValueError):
    """A query name, parameter or window that cannot be used (message says which)."""


def parse_window(text: str) -> dt.timedelta:
    """``"90m"``, ``"1h"``, ``"7d"`` -> timedelta."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise QueryError(f"window {text!r} is not a duration like 30m, 6h or 7d")
    return dt.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _quote(value: str) -> str:
    if '"' in value or "\\" in value or "\n" in value:
        raise QueryError(f"value {value!r} may not contain quotes, backslashes or newlines")
    return value


@dataclass(frozen=True)
class Context:
    """Where the queries run: project, optionally cluster and namespace, a time window."""

    project: str = "PROJECT_ID"
    cluster: str | None = None
    namespace: str | None = None
    window: str | None = None
    until: dt.datetime | None = None  # end of the window (default: now)
    params: Mapping[str, str] = field(default_factory=dict)
    table: str | None = None  # Log Analytics view (default: the project's _Default/_AllLogs)

    def bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        if not self.window:
            return None
        until = self.until or dt.datetime.now(dt.UTC)
        return until - parse_window(self.window), until

    def _resource(self, resource_type: str, log_name: str | None = None) -> str:
        lines = [f'logName="projects/{_quote(self.project)}/logs/{log_name}"'] if log_name \
            else []
        lines.append(f'resource.type="{resource_type}"')
        if self.cluster:
            lines.append(f'resource.labels.cluster_name="{_quote(self.cluster)}"')
        if self.namespace:
            lines.append(f'resource.labels.namespace_name="{_quote(self.namespace)}"')
        return "\n".join(lines)

    def _sql_where(self) -> str:
        terms = []
        for key, value in (("cluster_name", self.cluster), ("namespace_name", self.namespace)):
            if value:
                terms.append(f"JSON_VALUE(resource.labels, '$.{key}') = '{_sql_literal(value)}'")
        bounds = self.bounds()
        if bounds:
            terms.append(f"timestamp >= TIMESTAMP('{bounds[0].isoformat()}')")
            terms.append(f"timestamp < TIMESTAMP('{bounds[1].isoformat()}')")
        return " AND ".join(["resource.type = 'k8s_container'", *terms])

    def values(self) -> dict[str, str]:
        table = self.table or f"`{_quote(self.project)}.global._Default._AllLogs`"
        where = self._sql_where()
        bounds = self.bounds()
        # "Now" for idle times: the end of the window; NULL tells the query to use its newest
        # line instead (as the analyzer does without --until).
        now = f"TIMESTAMP('{bounds[1].isoformat()}')" if bounds else "CAST(NULL AS TIMESTAMP)"
        return {"project": _quote(self.project),
                "resource": self._resource("k8s_container"),
                "events_resource": self._resource("k8s_pod", "events"),
                "table": table, "where": where, "now": now}


def _sql_literal(value: str) -> str:
    if "'" in value or "\\" in value:
        raise QueryError(f"value {value!r} may not contain quotes or backslashes")
    return value


@dataclass(frozen=True)
class QueryFile:
    """One file of the catalog: its metadata and its template text."""

    kind: str
    name: str
    path: Path
    title: str
    description: str
    summary: tuple[str, ...]  # schema constant names
    defaults: Mapping[str, str | None]  # query parameter -> default (None: required)
    text: str  # the template, metadata comments removed

    @property
    def resource_id(self) -> str:
        """Id of the installed resource: ``rhesis-failures``, ``rhesis-sql-failures``; for a
        log-based metric its ``name``."""
        return "rhesis-" + self.name.replace("/", "-")

    def parameters(self) -> dict[str, str | None]:
        found = {p: None for p in template.parameters(self.text) - CONTEXT_PARAMS}
        return {**found, **self.defaults}

    def _params(self, ctx: Context) -> dict[str, str]:
        unknown = set(ctx.params) - set(self.parameters())
        if unknown and self.kind == SAVED:
            raise QueryError(f"{self.name} has no parameter {', '.join(sorted(unknown))}; "
                             f"it takes: {', '.join(self.parameters()) or 'none'}")
        values = {}
        for name, default in self.parameters().items():
            given = ctx.params.get(name)
            values[name] = _quote(given) if given is not None else (
                default if default is not None else f"<{name}>")
        context = ctx.values()
        if self.kind in (METRIC, POLICY):
            # One line: the value lands inside a YAML block scalar, where a line break would
            # leave the block.
            for key in ("resource", "events_resource"):
                context[key] = context[key].replace("\n", " AND ")
        return {**values, **context}

    def render(self, ctx: Context) -> str:
        """The query text for ``ctx`` (for saved queries with a time filter if a window is set)."""
        text = template.render(self.text, self._params(ctx)).strip() + "\n"
        bounds = ctx.bounds()
        if self.kind == SAVED and bounds:
            text += (f'timestamp>="{bounds[0].isoformat().replace("+00:00", "Z")}"\n'
                     f'timestamp<"{bounds[1].isoformat().replace("+00:00", "Z")}"\n')
        return text

    def body(self, ctx: Context) -> dict[str, Any]:
        """The REST body: SavedQuery, LogMetric or AlertPolicy; SQL as a Log Analytics query."""
        if self.kind in (METRIC, POLICY):
            return yaml.safe_load(self.render(ctx))
        common = {"displayName": self.title, "description": self.description,
                  "visibility": "SHARED"}
        if self.kind == SQL:
            return {**common, "opsAnalyticsQuery": {"sqlQueryText": self.render(ctx)}}
        return {
            **common,
            "loggingQuery": {
                "filter": self.render(ctx),
                "summaryFields": [
                    {"field": schema.jsonpayload(getattr(schema, c))} for c in self.summary
                ],
            },
        }


def _parse(kind: str, path: Path) -> QueryFile:
    meta: dict[str, str] = {}
    defaults: dict[str, str | None] = {}
    body_lines = []
    comment = "#" if path.suffix == ".yaml" else "--"
    header = True
    for line in path.read_text().splitlines():
        if header and line.startswith(comment):
            key, sep, value = line[len(comment):].strip().partition(":")
            if sep and key.strip() == "param":
                name, has_default, default = value.strip().partition("=")
                defaults[name.strip()] = default.strip() if has_default else None
            elif sep and key.strip() in ("title", "description", "summary"):
                meta[key.strip()] = value.strip()
            continue
        header = False
        body_lines.append(line)
    text = "\n".join(body_lines).strip() + "\n"
    if kind in (METRIC, POLICY):
        raw = yaml.safe_load(re.sub(r"\{[^{}]*\}", "x", text))  # shape only, for the title
        meta.setdefault("title", raw.get("displayName") or raw.get("name") or path.stem)
        meta.setdefault("description", raw.get("description") or "")
    summary = tuple(c.strip() for c in meta.get("summary", "").split(",") if c.strip())
    stem = path.stem
    name = stem if kind == SAVED else f"{kind}/{stem}"
    return QueryFile(kind, name, path, meta.get("title", stem), meta.get("description", ""),
                     summary, defaults, text)


@dataclass(frozen=True)
class Catalog:
    files: tuple[QueryFile, ...]

    def __iter__(self) -> Iterator[QueryFile]:
        return iter(self.files)

    def of_kind(self, kind: str) -> list[QueryFile]:
        return [q for q in self.files if q.kind == kind]

    def get(self, name: str) -> QueryFile:
        for q in self.files:
            if q.name == name:
                return q
        raise QueryError(f"no query named {name!r}; `rhesis-logs queries list` shows them")


def load(root: Path = HERE) -> Catalog:
    """Every query file under ``root`` (default: this package's directory)."""
    files = [_parse(SAVED, p) for p in sorted(root.glob("*.lql"))]
    files += [_parse(METRIC, p) for p in sorted((root / "metrics").glob("*.yaml"))]
    files += [_parse(POLICY, p) for p in sorted((root / "policies").glob("*.yaml"))]
    files += [_parse(SQL, p) for p in sorted((root / "sql").glob("*.sql"))]
    return Catalog(tuple(files))
