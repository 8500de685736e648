"""``rhesis-logs queries``: the Cloud Logging saved queries, log-based metrics, alert policies
and Log Analytics SQL of ``queries/``, filled in for a project, cluster, namespace and window.

    rhesis-logs queries list
    rhesis-logs queries show failures --project my-proj --namespace workers --window 1h
    rhesis-logs queries show task-timeline --param task_id=0f6c...
    rhesis-logs queries show policy/stuck-chords --project my-proj --format json
    rhesis-logs queries install --project my-proj --cluster prod --namespace workers
    rhesis-logs queries install --log-analytics --project my-proj --create-link

A thin layer over :mod:`queries.catalog` and :mod:`queries.logging_api`; their errors become
exit status USAGE (2) with the message. ``rhesis-logs`` loads it on first use
(``analyzers.cli``'s lazy group).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

from instrumentation.exit_status import ExitStatus
from queries.catalog import KINDS, METRIC, SAVED, SQL, Context, QueryError, load
from queries.log_analytics import (
    DEFAULT_BUCKET,
    DEFAULT_LINK_ID,
    DEFAULT_LOCATION,
    LinkSetupError,
    ensure_linked_dataset,
)
from queries.logging_api import DEFAULT_ENDPOINT, LoggingApi, LoggingApiError, install
from queries.template import MissingParameter


class QueriesError(click.ClickException):
    """A query, parameter or API problem the user can fix."""

    exit_code = ExitStatus.USAGE


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise QueriesError(f"--param {item!r}: expected NAME=VALUE, e.g. task_id=0f6c...")
        params[key.strip()] = value
    return params


def context_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--project/--cluster/--namespace/--window/--param, turned into one ``ctx`` argument."""

    @click.option("--project", envvar="GOOGLE_CLOUD_PROJECT", default="PROJECT_ID",
                  show_default=True, help="GCP project [env GOOGLE_CLOUD_PROJECT].")
    @click.option("--cluster", help="GKE cluster name (resource.labels.cluster_name).")
    @click.option("--namespace", "-n", help="Kubernetes namespace of the workers.")
    @click.option("--window", help="Only the last WINDOW (30m, 6h, 7d): adds timestamp bounds.")
    @click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                  help="A query parameter (tenant, task_id, chord_id, ...); repeatable.")
    @functools.wraps(fn)
    def wrapper(project: str, cluster: str | None, namespace: str | None,
                window: str | None, params: tuple[str, ...], **kw: Any) -> Any:
        ctx = Context(project=project, cluster=cluster, namespace=namespace, window=window,
                      params=_parse_params(params))
        try:
            ctx.bounds()
            return fn(ctx=ctx, **kw)
        except (QueryError, MissingParameter, LoggingApiError) as exc:
            raise QueriesError(str(exc).strip("'\"")) from None

    return wrapper


@click.group("queries")
def queries() -> None:
    """Cloud Logging saved queries, log-based metrics, alert policies and Log Analytics SQL.

    Example: rhesis-logs queries show failures --project my-proj --namespace workers
    """


@queries.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def list_cmd(kind: str | None, fmt: str) -> None:
    """List the queries: name, kind, parameters and title.

    Example: rhesis-logs queries list --kind saved
    """
    rows = [q for q in load() if kind is None or q.kind == kind]
    if fmt == "json":
        click.echo(json.dumps([{"name": q.name, "kind": q.kind, "title": q.title,
                                "description": q.description,
                                "parameters": q.parameters()} for q in rows], indent=2))
        return
    width = max(len(q.name) for q in rows) if rows else 0
    for q in rows:
        params = ", ".join(f"{k}={v}" if v is not None else k for k, v in q.parameters().items())
        click.echo(f"{q.name:<{width}}  {q.kind:<6}  {q.title}"
                   + (f"  [{params}]" if params else ""))


@queries.command("show")
@click.argument("name")
@context_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: the query; json: the REST body it installs as.")
def show_cmd(ctx: Context, name: str, fmt: str) -> None:
    """Print one query filled in for the project, cluster, namespace and window.

    Example: rhesis-logs queries show tenant-tasks --param tenant=org-42 --window 6h
    """
    q = load().get(name)
    if fmt == "json":
        click.echo(json.dumps(q.body(ctx), indent=2))
    else:
        click.echo(q.render(ctx), nl=False)


@queries.command("install")
@context_options
@click.option("--only", "only", multiple=True, type=click.Choice([SAVED, METRIC, SQL]),
              help="Install only these kinds (repeatable) [all three].")
@click.option("--dry-run", is_flag=True, help="Render everything, send nothing.")
@click.option("--access-token", envvar="CLOUDSDK_AUTH_ACCESS_TOKEN",
              help="OAuth token (e.g. from `gcloud auth print-access-token`) "
                   "[env CLOUDSDK_AUTH_ACCESS_TOKEN]; default: Application Default Credentials.")
@click.option("--endpoint", envvar="RHESIS_LOGGING_ENDPOINT", default=DEFAULT_ENDPOINT,
              show_default=True, help="Logging API base URL [env RHESIS_LOGGING_ENDPOINT].")
@click.option("--log-analytics", "log_analytics", is_flag=True,
              help="Instead: check that the log bucket is on Log Analytics and linked to a "
                   "BigQuery dataset (what `analyze --source log-analytics` reads).")
@click.option("--bucket", default=DEFAULT_BUCKET, show_default=True,
              help="--log-analytics: the log bucket.")
@click.option("--location", default=DEFAULT_LOCATION, show_default=True,
              help="--log-analytics: the bucket's location.")
@click.option("--link-id", default=DEFAULT_LINK_ID, show_default=True,
              help="--log-analytics: the link (and BigQuery dataset) id to create.")
@click.option("--create-link", is_flag=True,
              help="--log-analytics: create the link when the bucket has none.")
def install_cmd(ctx: Context, only: tuple[str, ...], dry_run: bool, access_token: str | None,
                endpoint: str, log_analytics: bool, bucket: str, location: str, link_id: str,
                create_link: bool) -> None:
    """Create or update the saved queries and log-based metrics in a project.

    Saved queries are shared (visible to the project), named rhesis-<query>; log-based
    metrics keep their names (rhesis_task_failures, ...). Safe to run again. Alert policies are
    not installed: see `rhesis-logs queries show policy/<name> --format json`.

    Example: rhesis-logs queries install --project my-proj --cluster prod --namespace workers
    """
    if ctx.project == "PROJECT_ID":
        raise QueriesError("install needs --project (or GOOGLE_CLOUD_PROJECT)")
    if log_analytics:
        _link(ctx.project, bucket, location, link_id, create_link and not dry_run,
              LoggingApi(ctx.project, endpoint=endpoint, access_token=access_token))
        return
    api = None if dry_run else LoggingApi(ctx.project, endpoint=endpoint,
                                          access_token=access_token)
    for result in install(api, load(), ctx, kinds=only or (SAVED, METRIC, SQL)):
        click.echo(f"{result.action:<8} {result.kind:<6} {result.id}")


def _link(project: str, bucket: str, location: str, link_id: str, create: bool,
          api: LoggingApi) -> None:
    """``install --log-analytics``: report (or make) the bucket's BigQuery link.

    Exits FINDINGS when the bucket has no link and ``--create-link`` was not given, so a
    setup script can tell "ready" from "one step left".
    """
    try:
        status = ensure_linked_dataset(project, bucket, location, link_id, create,
                                       session=api)
    except (LinkSetupError, LoggingApiError) as exc:
        raise QueriesError(str(exc)) from None
    click.echo(status.describe())
    if status.action == "missing":
        raise SystemExit(ExitStatus.FINDINGS)
