"""``ensure_linked_dataset`` against a local server speaking the Logging API's buckets.links,
through the same HTTP client as the other installs (``queries.logging_api.LoggingApi``)."""

from __future__ import annotations

import pytest

from queries.log_analytics import LinkSetupError, ensure_linked_dataset
from queries.logging_api import LoggingApi
from tests.queries.links_server import LinksServer

P = "proj-1"
BUCKET = f"projects/{P}/locations/global/buckets/_Default"
PLAIN = f"projects/{P}/locations/europe-west1/buckets/plain"


@pytest.fixture
def server():
    with LinksServer({BUCKET: True, PLAIN: False}) as s:
        yield s


def api(server: LinksServer) -> LoggingApi:
    return LoggingApi(P, endpoint=server.url, access_token="test-token")


def test_no_link_is_reported_without_creating_one(server):
    status = ensure_linked_dataset(P, session=api(server))
    assert status.action == "missing" and status.dataset is None
    assert "--create-link" in status.describe()
    assert [m for m, *_ in server.requests] == ["GET", "GET"]  # bucket, links: nothing made


def test_create_waits_for_the_operation_and_returns_the_dataset(server):
    server.state.polls_to_finish = 3
    status = ensure_linked_dataset(P, link_id="fleet_logs", create=True, session=api(server),
                                   poll_s=0.01)
    assert status.action == "created" and status.state == "ACTIVE"
    assert (status.dataset_project, status.dataset, status.link_id) == (P, "fleet_logs",
                                                                         "fleet_logs")
    assert "--dataset fleet_logs" in status.describe()
    post = [r for r in server.requests if r[0] == "POST"]
    assert len(post) == 1 and post[0][1] == f"{BUCKET}/links"
    polls = [r for r in server.requests if "/operations/" in r[1]]
    assert len(polls) == 3
    assert all(r[3] == "Bearer test-token" for r in server.requests)
    # Run again: the link is found, nothing is created twice.
    again = ensure_linked_dataset(P, link_id="fleet_logs", create=True, session=api(server))
    assert again.action == "exists" and again.dataset == "fleet_logs"
    assert len([r for r in server.requests if r[0] == "POST"]) == 1


def test_an_existing_link_with_another_id_is_the_one_used(server):
    ensure_linked_dataset(P, link_id="first", create=True, session=api(server), poll_s=0.01)
    status = ensure_linked_dataset(P, link_id="second", create=True, session=api(server))
    assert status.action == "exists" and status.dataset == "first"


def test_a_bucket_without_log_analytics_is_not_upgraded_behind_your_back(server):
    with pytest.raises(LinkSetupError, match="not upgraded to Log Analytics") as info:
        ensure_linked_dataset(P, bucket="plain", location="europe-west1", create=True,
                              session=api(server))
    assert "--enable-analytics" in str(info.value) and "\n" not in str(info.value)
    assert not any(r[0] == "POST" for r in server.requests)


def test_missing_bucket(server):
    with pytest.raises(LinkSetupError, match="not found: check --bucket and --location"):
        ensure_linked_dataset(P, bucket="nope", session=api(server))


def test_permission_denied_names_the_role(server):
    server.state.deny.add("POST links")
    with pytest.raises(LinkSetupError, match=r"roles/logging\.configWriter"):
        ensure_linked_dataset(P, create=True, session=api(server))


def test_a_failed_operation_says_why(server):
    server.state.fail_operation = "BigQuery dataset quota exceeded"
    with pytest.raises(LinkSetupError, match="failed: BigQuery dataset quota exceeded"):
        ensure_linked_dataset(P, create=True, session=api(server), poll_s=0.01)


def test_an_operation_that_does_not_finish_in_time(server):
    server.state.polls_to_finish = 10**6
    ticks = iter(range(1000))
    with pytest.raises(LinkSetupError, match="still being created after 5s"):
        ensure_linked_dataset(P, create=True, session=api(server), wait_s=5, poll_s=0.001,
                              clock=lambda: float(next(ticks)))


def test_bad_link_id():
    with pytest.raises(LinkSetupError, match="letters, digits and underscores"):
        ensure_linked_dataset(P, link_id="has-dash", session=object())


def test_the_install_command_reports_then_creates_the_link(server):
    """``rhesis-logs queries install --log-analytics``: exit FINDINGS while a link is
    missing, OK once created; the bucket's problems are one line and USAGE."""
    from click.testing import CliRunner

    from analyzers.cli import main
    from instrumentation.exit_status import ExitStatus

    server.state.polls_to_finish = 1
    base = ["queries", "install", "--log-analytics", "--project", P, "--endpoint", server.url,
            "--access-token", "test-token"]
    missing = CliRunner().invoke(main, base)
    assert missing.exit_code == ExitStatus.FINDINGS, missing.output
    assert "--create-link" in missing.output
    created = CliRunner().invoke(main, [*base, "--create-link", "--link-id", "fleet"])
    assert created.exit_code == ExitStatus.OK, created.output
    assert "--dataset fleet" in created.output
    plain = CliRunner().invoke(main, [*base, "--bucket", "plain", "--location", "europe-west1"])
    assert plain.exit_code == ExitStatus.USAGE
    assert "not upgraded to Log Analytics" in plain.output and "Traceback" not in plain.output
