"""Create or update saved queries and log-based metrics through the Cloud Logging REST API.

    from queries.logging_api import LoggingApi, install

    api = LoggingApi("my-project")                      # Application Default Credentials
    results = install(api, catalog, ctx)                # [InstallResult(kind, id, action)]

Only the two REST resources this needs, over the standard library's HTTP client:

* ``POST /v2/projects/P/metrics`` (LogMetric); if it exists (409), ``PUT .../metrics/NAME``;
* ``POST /v2/projects/P/locations/global/savedQueries?savedQueryId=ID``; if it exists,
  ``PATCH .../savedQueries/ID?updateMask=...``.

Creating-or-updating makes ``install`` safe to run again after the query files change.
Credentials: an explicit access token (``gcloud auth print-access-token``), else Application
Default Credentials via ``google.auth``. ``endpoint`` points the client elsewhere (the tests run
a local server speaking these endpoints). The token never appears in errors or results.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from instrumentation.redaction import redact_text
from queries.catalog import METRIC, SAVED, SQL, Catalog, Context

DEFAULT_ENDPOINT = "https://logging.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/logging.admin"
LOCATION = "global"


class LoggingApiError(RuntimeError):
    """The Logging API refused a request (message: status, resource and the API's reason)."""


def _adc_token() -> str:
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise LoggingApiError(
            "no Google credentials: run `gcloud auth application-default login`, or pass "
            f"--access-token \"$(gcloud auth print-access-token)\" ({type(exc).__name__})"
        ) from None
    return credentials.token


@dataclass
class LoggingApi:
    project: str
    endpoint: str = DEFAULT_ENDPOINT
    access_token: str | None = None
    timeout: float = 30.0
    token_source: Callable[[], str] = _adc_token

    def _token(self) -> str:
        if self.access_token is None:
            self.access_token = self.token_source()
        return self.access_token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                **query: str) -> tuple[int, dict[str, Any]]:
        """One JSON request; returns (status, body). HTTP errors come back as statuses."""
        url = f"{self.endpoint.rstrip('/')}/v2/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token()}",
            "Content-Type": "application/json",
            "User-Agent": "rhesis-logs-queries",
        })
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                payload = {"error": {"message": raw.decode(errors="replace")[:500]}}
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            raise LoggingApiError(
                f"cannot reach the Logging API at {self.endpoint}: {redact_text(str(exc))}"
            ) from None

    def _check(self, status: int, payload: dict[str, Any], what: str) -> dict[str, Any]:
        if 200 <= status < 300:
            return payload
        err = payload.get("error") or {}
        reason = redact_text(str(err.get("message") or payload))
        raise LoggingApiError(f"{what}: HTTP {status} {err.get('status', '')} {reason}".strip())

    # --- log-based metrics --------------------------------------------------------------

    def upsert_metric(self, body: dict[str, Any]) -> str:
        """Create the LogMetric, or replace it if one of that name exists; returns the action."""
        name = body["name"]
        parent = f"projects/{self.project}/metrics"
        status, payload = self.request("POST", parent, body)
        if status == 409:
            quoted = urllib.parse.quote(name, safe="")
            self._check(*self.request("PUT", f"{parent}/{quoted}", body), f"update metric {name}")
            return "updated"
        self._check(status, payload, f"create metric {name}")
        return "created"

    # --- saved queries ------------------------------------------------------------------

    def upsert_saved_query(self, query_id: str, body: dict[str, Any]) -> str:
        parent = f"projects/{self.project}/locations/{LOCATION}/savedQueries"
        status, payload = self.request("POST", parent, body, savedQueryId=query_id)
        if status == 409:
            query_kind = "opsAnalyticsQuery" if "opsAnalyticsQuery" in body else "loggingQuery"
            mask = f"displayName,description,visibility,{query_kind}"
            self._check(*self.request("PATCH", f"{parent}/{query_id}", body, updateMask=mask),
                        f"update saved query {query_id}")
            return "updated"
        self._check(status, payload, f"create saved query {query_id}")
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
