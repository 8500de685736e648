"""Create or update saved queries and log-based metrics through the Cloud Logging REST API.

    from queries.logging_api import LoggingApi, install

    api = LoggingApi("my-project")                      # Application Default Credentials
    results = install(api, catalog, ctx)                # [InstallResult(kind, id, action)]

Only the two REST resources this needs, through ``queries.logging_client`` (the project's
one client of the Logging API, which ``rhesis-logs analyze --source cloud-logging`` reads
entries with too):

* ``POST /v2/projects/P/metrics`` (LogMetric); if it exists (409), ``PUT .../metrics/NAME``;
* ``POST /v2/projects/P/locations/global/savedQueries?savedQueryId=ID``; if it exists,
  ``PATCH .../savedQueries/ID?updateMask=...``.

Creating-or-updating makes ``install`` safe to run again after the query files change.
Credentials: an explicit access token (``gcloud auth print-access-token``), else Application
Default Credentials via ``google.auth`` (scope ``logging.admin``). ``endpoint`` points the
client elsewhere (the tests run a local server speaking these endpoints). The token never
appears in errors or results.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from instrumentation.redaction import redact_text
from queries.catalog import METRIC, SAVED, SQL, Catalog, Context
from queries.logging_client import (
    ADMIN_SCOPE,
    DEFAULT_ENDPOINT,
    LoggingClient,
    LoggingUnavailable,
    Reply,
)

LOCATION = "global"

__all__ = ["DEFAULT_ENDPOINT", "InstallResult", "LoggingApi", "LoggingApiError", "install"]


class LoggingApiError(RuntimeError):
    """The Logging API refused a request (message: status, resource and the API's reason)."""


@dataclass
class LoggingApi:
    """Saved queries and log-based metrics of one project, created or updated."""

    project: str
    endpoint: str = DEFAULT_ENDPOINT
    access_token: str | None = None
    timeout: float = 30.0
    client: LoggingClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = LoggingClient(self.endpoint, access_token=self.access_token,
                                    scopes=(ADMIN_SCOPE,), timeout=self.timeout,
                                    user_agent="rhesis-logs-queries")

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                **query: str) -> Reply:
        """One JSON request; HTTP errors come back as replies."""
        try:
            return self.client.request(method, path, body, **query)
        except LoggingUnavailable as exc:
            raise LoggingApiError(str(exc)) from None

    def _check(self, reply: Reply, what: str) -> dict[str, Any]:
        if reply.ok:
            return reply.body
        reason = redact_text(reply.message)
        raise LoggingApiError(f"{what}: HTTP {reply.status} {reply.error_status} {reason}"
                              .strip())

    # --- log-based metrics --------------------------------------------------------------

    def upsert_metric(self, body: dict[str, Any]) -> str:
        """Create the LogMetric, or replace it if one of that name exists; returns the action."""
        name = body["name"]
        parent = f"projects/{self.project}/metrics"
        reply = self.request("POST", parent, body)
        if reply.status == 409:
            quoted = urllib.parse.quote(name, safe="")
            self._check(self.request("PUT", f"{parent}/{quoted}", body), f"update metric {name}")
            return "updated"
        self._check(reply, f"create metric {name}")
        return "created"

    # --- saved queries ------------------------------------------------------------------

    def upsert_saved_query(self, query_id: str, body: dict[str, Any]) -> str:
        parent = f"projects/{self.project}/locations/{LOCATION}/savedQueries"
        reply = self.request("POST", parent, body, savedQueryId=query_id)
        if reply.status == 409:
            query_kind = "opsAnalyticsQuery" if "opsAnalyticsQuery" in body else "loggingQuery"
            mask = f"displayName,description,visibility,{query_kind}"
            self._check(self.request("PATCH", f"{parent}/{query_id}", body, updateMask=mask),
                        f"update saved query {query_id}")
            return "updated"
        self._check(reply, f"create saved query {query_id}")
        return "created"


@dataclass(frozen=True)
class InstallResult:
    kind: str
    id: str
    action: str  # created | updated | would create or update


def install(api: LoggingApi | None, catalog: Catalog, ctx: Context, *,
            kinds: tuple[str, ...] = (SAVED, METRIC, SQL)) -> list[InstallResult]:
    """Install every saved query (Logging and Log Analytics) and log-based metric.

    ``api=None`` is a dry run: everything is rendered (so a broken template still fails) and
    nothing is sent. Stops at the first API error, which names the resource.
    """
    results = []
    for q in catalog:
        if q.kind not in kinds:
            continue
        body = q.body(ctx)
        if q.kind == METRIC:
            rid = body["name"]
            action = api.upsert_metric(body) if api else "would create or update"
        else:
            rid = q.resource_id
            action = api.upsert_saved_query(rid, body) if api else "would create or update"
        results.append(InstallResult(q.kind, rid, action))
    return results
