"""Setup for ``--source log-analytics``: a log bucket upgraded to Log Analytics, linked to BigQuery.

    from queries.log_analytics import ensure_linked_dataset

    status = ensure_linked_dataset("my-project", bucket="_Default", location="global",
                                   link_id="rhesis_logs", create=True)
    status.action        # "exists" | "created" | "missing" (create=False and no link yet)
    status.dataset       # "rhesis_logs": what `analyze --dataset` takes

Steps, each a Logging API v2 call (``projects.locations.buckets`` and ``.buckets.links``):

1. ``GET .../buckets/B``: the bucket must exist and have ``analyticsEnabled``. Upgrading a
   bucket cannot be undone, so it is never done here: the error says which gcloud command
   does it.
2. ``GET .../buckets/B/links`` (all pages): a bucket holds at most one link; if there is one,
   it is the dataset to query, whatever its id.
3. With ``create=True`` and no link: ``POST .../buckets/B/links?linkId=ID``, a long-running
   operation, polled (``GET`` on its name) until done or ``wait_s`` runs out.

``session`` is anything with ``request(method, path, body=None, **query) -> Reply``
over ``https://logging.googleapis.com/v2/`` (``queries.logging_api.LoggingApi`` is one, with
the application-default credentials; tests pass one pointed at a local server). Problems the
user can fix raise :class:`LinkSetupError` with a one-line message naming the fix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from queries.logging_client import Reply

DEFAULT_BUCKET = "_Default"
DEFAULT_LOCATION = "global"
DEFAULT_LINK_ID = "rhesis_logs"
_LINK_ID = re.compile(r"^[A-Za-z0-9_]{1,100}$")
_DATASET = re.compile(r"projects/([^/]+)/datasets/([^/]+)$")


class LinkSetupError(RuntimeError):
    """The bucket cannot be used or linked (message: what is wrong and the fix)."""


class LoggingSession(Protocol):
    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                **query: str) -> Reply: ...


def _call(api: LoggingSession, method: str, path: str, body: dict[str, Any] | None = None,
          **query: str) -> tuple[int, dict[str, Any]]:
    """One request as (HTTP status, JSON body)."""
    reply = api.request(method, path, body, **query)
    return reply.status, reply.body


@dataclass(frozen=True)
class LinkStatus:
    """Where the bucket stands: its link, the BigQuery dataset behind it, what was done."""

    bucket: str  # projects/P/locations/L/buckets/B
    link_id: str | None
    dataset_project: str | None
    dataset: str | None  # the id `analyze --dataset` takes
    state: str | None  # the link's lifecycleState (ACTIVE, CREATING, ...)
    action: str  # exists | created | missing

    def describe(self) -> str:
        if self.action == "missing":
            return (f"{self.bucket} is upgraded to Log Analytics but has no linked dataset: "
                    "rerun with --create-link (needs roles/logging.configWriter)")
        verb = "created" if self.action == "created" else "linked"
        return (f"{self.bucket} {verb}: BigQuery dataset {self.dataset_project}.{self.dataset} "
                f"({self.state}); analyze with --source log-analytics --project "
                f"{self.dataset_project} --dataset {self.dataset}")


def _error(status: int, payload: dict[str, Any]) -> str:
    err = payload.get("error") or {}
    return f"HTTP {status} {err.get('status', '')} {err.get('message', '')}".strip()


def _denied(what: str, role: str, status: int, payload: dict[str, Any]) -> LinkSetupError:
    return LinkSetupError(f"not allowed to {what}: it needs {role} ({_error(status, payload)})")


def _link_status(bucket: str, link: dict[str, Any], action: str) -> LinkStatus:
    dataset_id = (link.get("bigqueryDataset") or {}).get("datasetId", "")
    m = _DATASET.search(dataset_id)
    return LinkStatus(bucket, link.get("name", "").rsplit("/", 1)[-1] or None,
                      m.group(1) if m else None, m.group(2) if m else None,
                      link.get("lifecycleState"), action)


def _default_session(project: str) -> LoggingSession:
    from queries.logging_api import LoggingApi

    return LoggingApi(project)


def ensure_linked_dataset(
    project: str,
    bucket: str = DEFAULT_BUCKET,
    location: str = DEFAULT_LOCATION,
    link_id: str = DEFAULT_LINK_ID,
    create: bool = False,
    session: LoggingSession | None = None,
    *,
    wait_s: float = 300.0,
    poll_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
) -> LinkStatus:
    """Check (and with ``create`` make) the BigQuery link of a Log Analytics bucket."""
    if not _LINK_ID.match(link_id):
        raise LinkSetupError(f"link id {link_id!r}: up to 100 letters, digits and underscores")
    api = session if session is not None else _default_session(project)
    name = f"projects/{project}/locations/{location}/buckets/{bucket}"

    status, payload = _call(api, "GET", name)
    if status == 404:
        raise LinkSetupError(f"log bucket {name} not found: check --bucket and --location "
                             "(`gcloud logging buckets list`)")
    if status == 403:
        raise _denied(f"read log bucket {name}", "roles/logging.viewer", status, payload)
    if status != 200:
        raise LinkSetupError(f"reading log bucket {name}: {_error(status, payload)}")
    if not payload.get("analyticsEnabled"):
        raise LinkSetupError(
            f"log bucket {name} is not upgraded to Log Analytics: `gcloud logging buckets "
            f"update {bucket} --location={location} --enable-analytics` (cannot be undone)")

    links: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {"pageToken": token} if token else {}
        status, payload = _call(api, "GET", f"{name}/links", **query)
        if status == 403:
            raise _denied(f"list the links of {name}", "roles/logging.viewer", status, payload)
        if status != 200:
            raise LinkSetupError(f"listing the links of {name}: {_error(status, payload)}")
        links += payload.get("links") or []
        token = payload.get("nextPageToken")
        if not token:
            break
    if links:  # at most one link per bucket: that is the dataset
        return _link_status(name, links[0], "exists")
    if not create:
        return LinkStatus(name, None, None, None, None, "missing")

    status, operation = _call(api, "POST", f"{name}/links",
                                    {"description": "rhesis-logs: --source log-analytics"},
                                    linkId=link_id)
    if status == 403:
        raise _denied(f"create a link on {name}", "roles/logging.configWriter (and "
                      "bigquery.datasets.create on the project)", status, operation)
    if status == 409:  # created meanwhile by someone else: use it
        return _get_link(api, name, link_id, "exists")
    if status != 200:
        raise LinkSetupError(f"creating link {link_id} on {name}: {_error(status, operation)}")
    deadline = clock() + wait_s
    while not operation.get("done"):
        if clock() >= deadline:
            raise LinkSetupError(
                f"link {link_id} on {name} still being created after {wait_s:.0f}s (operation "
                f"{operation.get('name')}): check again later without --create-link")
        time.sleep(poll_s)
        status, operation = _call(api, "GET", operation["name"])
        if status != 200:
            raise LinkSetupError(f"waiting for link {link_id}: {_error(status, operation)}")
    if "error" in operation:
        err = operation["error"]
        raise LinkSetupError(f"creating link {link_id} on {name} failed: "
                             f"{err.get('message', err)}")
    return _get_link(api, name, link_id, "created")


def _get_link(api: LoggingSession, bucket: str, link_id: str, action: str) -> LinkStatus:
    status, link = _call(api, "GET", f"{bucket}/links/{link_id}")
    if status != 200:
        raise LinkSetupError(f"reading link {link_id} of {bucket}: {_error(status, link)}")
    return _link_status(bucket, link, action)
