"""Cloud Logging as a source: ``entries.list`` with the filter pushed down to the server.

    source = CloudLoggingSource("my-project", since=timedelta(hours=1), cluster="prod",
                                namespace="rhesis", container="worker")
    source.filter()          # the Logging query sent (the CLI shows it with --verbose)
    result = ingest.read_sources(source)
    source.stats             # requests, entries, retries, seconds waited for quota

Why it is built this way: ``entries.list`` allows 60 requests a minute per project, 1000
entries each. A fleet writing a million lines an hour would need 17 minutes just to page
through an hour, so

* the filter asks only for what the report reads: our JSON lines whose ``event`` is one of
  ``events`` (default: every event but plain ``log`` lines), plus the plain-Celery text
  lines that carry an event (and traceback lines, which belong to them), of
  ``resource.type="k8s_container"`` in the time window, cluster, namespace and container;
* a client-side limiter spaces requests to ``requests_per_minute`` and backs off
  exponentially (honouring ``Retry-After``) on 429 RESOURCE_EXHAUSTED and 5xx, resuming
  from the same page token, so nothing is lost or read twice;
* a progress bar on stderr shows how far into the window the pull is (entries come in
  timestamp order), with entries and requests so far;
* once a few pages are in and the window is far from done, it extrapolates how long the rest
  will take at the request rate (``estimate_remaining``) and, when that is minutes, says so
  once and points at ``--source log-analytics``, which runs the report in BigQuery instead.

Requests go through ``queries.logging_client`` (google-auth's authorized session, the one
client of the Logging API in the project) rather than ``google-cloud-logging``'s
``list_entries``, whose generator hides page tokens: a page that failed with 429 could not
be resumed without them. ``api_endpoint`` points it elsewhere (tests use a local server
speaking the v2 REST API).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from analyzers.errors import SourceError
from analyzers.rfc3339 import RFC3339_MICROS
from analyzers.sources import SourceChunks
from instrumentation import schema
from queries.logging_client import (
    DEFAULT_ENDPOINT,
    READ_SCOPE,
    LoggingClient,
    LoggingUnavailable,
    Reply,
)

SOURCE_NAME = "cloud-logging"

# LogEntry / monitored-resource names of the Logging query language.
RESOURCE_TYPE = "resource.type"
K8S_CONTAINER = "k8s_container"
CLUSTER = "resource.labels.cluster_name"
NAMESPACE = "resource.labels.namespace_name"
CONTAINER = "resource.labels.container_name"
TIMESTAMP = "timestamp"
TEXT_PAYLOAD = "textPayload"

#: Events fetched by default: everything the instrumentation emits except plain log lines.
DEFAULT_EVENTS: tuple[str, ...] = tuple(str(e) for e in schema.Event if e != schema.Event.LOG)

#: RE2 patterns of the plain-Celery text lines worth fetching: the sentences that carry an
#: event (see ``analyzers.ingest.celery_text``) and the lines of a traceback.
TEXT_PATTERNS: tuple[str, ...] = (
    r"\] Task \S+\[\S+\] (received|succeeded in|retry:|raised|INTERNAL ERROR)",
    r"(Chord '\S+' raised|time limit \(|Task handler raised error|Connection to broker lost"
    r"|missed heartbeat from|Discarding revoked task|Received unregistered task| ready\.$)",
    r"^(Traceback \(most recent call last\)|\s|[A-Za-z_][\w.]*(Error|Exception|Lost)\b)",
)

_RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class PullStats:
    """What a pull cost: requests sent, entries received, retries, seconds spent waiting."""

    requests: int = 0
    entries: int = 0
    retries: int = 0
    waited_s: float = 0.0


#: Pages read before the rest of the pull is extrapolated (the first pages say little).
ADVICE_AFTER_PAGES = 5
#: Remaining time worth telling the user about.
ADVICE_ABOVE_S = 60.0


def estimate_remaining(covered_s: float, window_s: float, pages: int,
                       requests_per_minute: float) -> float | None:
    """Seconds the rest of the window will take at ``requests_per_minute``, or None if unknown.

    Entries arrive oldest first, so ``covered_s`` (how far into the window the last entry is)
    over ``pages`` gives the pages per second of window; the remaining window at that density
    and the request rate gives the time.
    """
    if pages <= 0 or covered_s <= 0 or window_s <= covered_s:
        return None
    pages_left = pages * (window_s - covered_s) / covered_s
    return pages_left * 60.0 / requests_per_minute


def slow_pull_advice(seconds_left: float) -> str:
    """The one line shown when paging the rest of the window will take minutes."""
    minutes = seconds_left / 60
    amount = f"~{minutes:,.0f} min" if minutes < 120 else f"~{minutes / 60:,.1f} h"
    return (f"{amount} more at the entries.list quota for this window; "
            "for windows this large use --source log-analytics (docs/log-analytics.md)")


class RateLimiter:
    """Spaces calls at least ``60 / requests_per_minute`` seconds apart (monotonic clock)."""

    def __init__(self, requests_per_minute: float) -> None:
        if requests_per_minute <= 0:
            raise SourceError("requests_per_minute must be positive")
        self.interval = 60.0 / requests_per_minute
        self._next = 0.0

    def wait(self) -> float:
        """Block until the next call is allowed; return the seconds slept."""
        now = time.monotonic()
        delay = max(0.0, self._next - now)
        if delay:
            time.sleep(delay)
        self._next = max(now, self._next) + self.interval
        return delay

    def slow_down(self, seconds: float) -> None:
        """Push the next allowed call ``seconds`` into the future (after a 429)."""
        self._next = max(self._next, time.monotonic() + seconds)


def _rfc3339(t: datetime) -> str:
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime(RFC3339_MICROS)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class CloudLoggingSource:
    """Log entries of a GKE workload from Cloud Logging, filtered on the server."""

    def __init__(
        self,
        project: str,
        since: datetime | timedelta,
        until: datetime | None = None,
        cluster: str | None = None,
        namespace: str | None = None,
        container: str | None = None,
        events: Iterable[str] | None = None,
        page_size: int = 1000,
        requests_per_minute: float = 60,
        progress: bool = True,
        *,
        notice: Callable[[str], None] | None = None,
        include_text: bool = True,
        api_endpoint: str | None = None,
        credentials: Any = None,
        max_retries: int = 8,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 64.0,
    ) -> None:
        if not project:
            raise SourceError("Cloud Logging needs a project: pass --project or set "
                              "GOOGLE_CLOUD_PROJECT")
        now = datetime.now(UTC)
        self.project = project
        self.until = until or now
        self.since = self.until - since if isinstance(since, timedelta) else since
        if self.since >= self.until:
            raise SourceError(f"empty time window: since {self.since} is not before "
                              f"until {self.until}")
        self.cluster, self.namespace, self.container = cluster, namespace, container
        self.events = tuple(DEFAULT_EVENTS if events is None else events)
        unknown = sorted(set(self.events) - {str(e) for e in schema.Event})
        if unknown:
            raise SourceError(
                f"unknown events {unknown}: choose from {[str(e) for e in schema.Event]}"
            )
        self.page_size = page_size
        self.limiter = RateLimiter(requests_per_minute)
        self.progress = progress
        # Without a progress bar the advice is one plain line on stderr, where a bar would be.
        self.notice = notice or (lambda text: print(f"rhesis-logs: {text}", file=sys.stderr))
        self.advice: str | None = None
        self.include_text = include_text
        self.api_endpoint = api_endpoint
        self.credentials = credentials
        self._logging: LoggingClient | None = None
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = PullStats()

    # -- the query ----------------------------------------------------------------------

    def filter(self) -> str:
        """The Logging query sent to ``entries.list``."""
        parts = [f"{RESOURCE_TYPE}={_quote(K8S_CONTAINER)}"]
        for field, value in ((CLUSTER, self.cluster), (NAMESPACE, self.namespace),
                             (CONTAINER, self.container)):
            if value:
                parts.append(f"{field}={_quote(value)}")
        parts.append(f"{TIMESTAMP}>={_quote(_rfc3339(self.since))}")
        parts.append(f"{TIMESTAMP}<{_quote(_rfc3339(self.until))}")
        wanted = []
        if self.events:
            values = " OR ".join(_quote(e) for e in self.events)
            wanted.append(f"{schema.jsonpayload(schema.EVENT)}=({values})")
        if self.include_text:
            wanted += [f"{TEXT_PAYLOAD}=~{_quote(p)}" for p in TEXT_PATTERNS]
        if wanted:
            parts.append("(" + " OR ".join(wanted) + ")")
        return "\n".join(parts)

    # -- the pull -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[SourceChunks]:
        yield SOURCE_NAME, self.chunks()

    def chunks(self) -> Iterator[bytes]:
        """One NDJSON block of LogEntry objects per page (what ``ingest`` reads)."""
        for entries in self.pages():
            if entries:
                yield b"\n".join(orjson.dumps(e) for e in entries) + b"\n"

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every LogEntry (the API's JSON representation), oldest first."""
        for page in self.pages():
            yield from page

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of entries, requested at the allowed rate, retried on quota errors."""
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{self.project}"],
            "filter": self.filter(),
            "orderBy": f"{TIMESTAMP} asc",
            "pageSize": self.page_size,
        }
        client = self._client()
        with self._progress() as bar:
            token: str | None = None
            while True:
                if token:
                    body["pageToken"] = token
                response = self._request(client, body)
                entries = response.get("entries") or []
                self.stats.entries += len(entries)
                self._advise(entries)
                bar(entries)
                yield entries
                token = response.get("nextPageToken")
                if not token:
                    return

    def check_credentials(self) -> None:
        """Fail early, and clearly, when no Google credentials are found (no network used)."""
        try:
            self._client().session()
        except LoggingUnavailable as exc:
            raise SourceError(str(exc)) from exc

    def _advise(self, entries: list[dict[str, Any]]) -> None:
        """After a few pages, say once if the rest of the window will take minutes."""
        if self.advice is not None or self.stats.requests < ADVICE_AFTER_PAGES or not entries:
            return
        covered = _seconds_into(self.since, entries[-1].get(TIMESTAMP))
        window = (self.until - self.since).total_seconds()
        left = estimate_remaining(covered or 0.0, window, self.stats.requests,
                                  60.0 / self.limiter.interval)
        if left is not None and left >= ADVICE_ABOVE_S:
            self.advice = slow_pull_advice(left)
            if not self.progress:
                self.notice(self.advice)

    def _client(self) -> LoggingClient:
        if self._logging is None:
            self._logging = LoggingClient(self.api_endpoint or DEFAULT_ENDPOINT,
                                          credentials=self.credentials, scopes=(READ_SCOPE,))
        return self._logging

    def _request(self, client: LoggingClient, body: dict[str, Any]) -> dict[str, Any]:
        delay = self.backoff_initial_s
        for attempt in range(self.max_retries + 1):
            self.stats.waited_s += self.limiter.wait()
            self.stats.requests += 1
            try:
                reply = client.request("POST", "entries:list", body)
            except LoggingUnavailable as exc:
                raise SourceError(str(exc)) from exc
            if reply.ok:
                return reply.body
            if reply.status not in _RETRYABLE or attempt == self.max_retries:
                raise SourceError(self._explain(reply))
            wait = min(self.backoff_max_s, max(delay, reply.retry_after))
            self.stats.retries += 1
            self.limiter.slow_down(wait)
            delay = min(self.backoff_max_s, delay * 2)
        raise AssertionError("unreachable")

    def _explain(self, reply: Reply) -> str:
        code, message = reply.status, reply.message
        if code == 429:
            return (f"Cloud Logging quota still exhausted after {self.max_retries} retries "
                    f"(project {self.project}): narrow --since/--until or --namespace, or "
                    "retry in a minute")
        if code == 403:
            return (f"permission denied reading logs of project {self.project}: the account "
                    "needs roles/logging.viewer")
        if code == 400:
            return f"Cloud Logging rejected the query: {message}"
        if code == 404:
            return f"project {self.project} not found in Cloud Logging: check --project"
        return f"Cloud Logging error {code}: {message}"

    def _progress(self) -> Any:
        return _Progress(self) if self.progress else _NoProgress()


def _seconds_into(since: datetime, stamp: object) -> float | None:
    """How far ``stamp`` (an RFC 3339 LogEntry timestamp) is past ``since``, in seconds."""
    try:
        t = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t - since).total_seconds()


class _NoProgress:
    def __enter__(self) -> Any:
        return lambda entries: None

    def __exit__(self, *exc: object) -> None:
        return None


class _Progress:
    """A rich progress bar on stderr: position in the time window, entries, requests."""

    def __init__(self, source: CloudLoggingSource) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.source = source
        self.total = (source.until - source.since).total_seconds()
        self.bar = Progress(
            TextColumn("Cloud Logging"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[entries]} entries, {task.fields[requests]} requests"),
            TimeElapsedColumn(), TextColumn("{task.fields[advice]}"),
            console=Console(stderr=True), transient=True,
        )
        self.task = self.bar.add_task("pull", total=self.total, entries=0, requests=0,
                                      advice="")

    def __enter__(self) -> Any:
        self.bar.start()
        return self.update

    def update(self, entries: list[dict[str, Any]]) -> None:
        done = None
        if entries:
            into = _seconds_into(self.source.since, entries[-1].get(TIMESTAMP))
            done = None if into is None else min(self.total, max(0.0, into))
        self.bar.update(self.task, completed=done, entries=self.source.stats.entries,
                        requests=self.source.stats.requests, advice=self.source.advice or "")

    def __exit__(self, *exc: object) -> None:
        self.bar.update(self.task, completed=self.total)
        self.bar.stop()
