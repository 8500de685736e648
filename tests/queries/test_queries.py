"""The query catalog (queries/): every field it names is a schema field, every file renders,
metrics/policies/alerts reference each other consistently, and ``rhesis-logs queries``
installs through a local server speaking the Logging REST API."""

from __future__ import annotations

import json
import re

import pytest
import sqlglot
import yaml
from click.testing import CliRunner

from dashboards import alerts as alert_rules
from instrumentation import schema as s
from queries import template
from queries.catalog import METRIC, POLICY, SAVED, SQL, Context, QueryError, load
from queries.cli import queries
from tests.support.logging_server import LoggingServer

CATALOG = load()
FULL = Context(project="proj-1", cluster="prod", namespace="workers", window="6h",
               params={"tenant": "org-1", "task_id": "t-1", "chord_id": "c-1"})
TOKEN = "ya29.test-token-not-for-output"


def _params_for(q) -> Context:
    given = {k: v for k, v in FULL.params.items() if k in q.parameters()}
    return Context(project=FULL.project, cluster=FULL.cluster, namespace=FULL.namespace,
                   window=FULL.window, params=given)


class TestFields:
    @pytest.mark.parametrize("q", list(CATALOG), ids=lambda q: q.name)
    def test_every_payload_field_is_in_the_schema(self, q):
        """jsonPayload.<x> and '$.<x>' paths, typed or generated, name schema fields only."""
        rendered = q.render(_params_for(q))
        if q.name == "health-probes":
            # Kubernetes Event objects, not our lines: only the listed paths are allowed.
            for path in template.K8S_EVENT_FIELDS.values():
                rendered = rendered.replace(path, "")
        named = template.payload_fields(rendered)
        assert named or q.kind == POLICY or q.name == "health-probes"
        assert named <= s.FIELD_NAMES, named - s.FIELD_NAMES

    def test_an_unknown_constant_fails_rendering(self):
        for text in ("{f.TASK_NAMES}", "{j.NOPE}", "{e.TASK_EXPLODED}", "{n.Event}"):
            with pytest.raises(KeyError):
                template.render(text, {})

    def test_a_hand_typed_path_is_found(self):
        """The check above would see a field typed without a placeholder."""
        found = template.payload_fields('jsonPayload.taskname="x" AND '
                                        "JSON_VALUE(json_payload, '$.exc_type')")
        assert found == {"taskname", "exc_type"}

    def test_templates_name_no_field_as_a_literal(self):
        """Query files use placeholders for our fields, never the spelled-out path."""
        for q in CATALOG:
            if q.name == "health-probes":
                continue
            assert not re.search(r"jsonPayload\.|'\$\.", q.text), q.name

    def test_summary_fields_are_schema_constants(self):
        for q in CATALOG.of_kind(SAVED):
            for name in q.summary:
                assert getattr(s, name) in s.FIELD_NAMES, (q.name, name)


class TestCatalog:
    def test_the_issue_lists_these_saved_queries(self):
        assert {q.name for q in CATALOG.of_kind(SAVED)} == {
            "failures", "retries", "retry-storms", "tenant-tasks", "chord-timeline",
            "task-timeline", "lost-workers", "redis-errors", "health-probes"}
        assert {q.name for q in CATALOG.of_kind(METRIC)} == {
            "metric/task_failures", "metric/task_retries", "metric/task_duration",
            "metric/stuck_chords"}

    @pytest.mark.parametrize("q", CATALOG.of_kind(SAVED), ids=lambda q: q.name)
    def test_saved_queries_render_with_context_and_window(self, q):
        text = q.render(_params_for(q))
        assert 'resource.labels.cluster_name="prod"' in text
        assert 'resource.labels.namespace_name="workers"' in text
        assert "timestamp>=" in text and "{" not in text
        assert text.count("(") == text.count(")") and text.count('"') % 2 == 0

    def test_missing_parameter_renders_a_visible_placeholder(self):
        text = CATALOG.get("task-timeline").render(Context())
        assert 'jsonPayload.task_id="<task_id>"' in text

    def test_defaults_and_given_parameters(self):
        storms = CATALOG.get("retry-storms")
        assert "jsonPayload.retries>=3" in storms.render(Context())
        assert "jsonPayload.retries>=7" in storms.render(Context(params={"min_retries": "7"}))

    @pytest.mark.parametrize("bad", [
        Context(params={"nope": "1"}),
        Context(params={"tenant": 'x" OR "1'}),
        Context(window="yesterday"),
    ])
    def test_bad_input_is_a_clear_error(self, bad):
        with pytest.raises(QueryError):
            CATALOG.get("tenant-tasks").render(bad)

    def test_metric_bodies_are_consistent(self):
        names = set()
        for q in CATALOG.of_kind(METRIC):
            body = q.body(FULL)
            names.add(body["name"])
            declared = {label["key"] for label in body["metricDescriptor"]["labels"]}
            assert set(body["labelExtractors"]) == declared
            assert declared <= s.FIELD_NAMES
        assert len(names) == len(CATALOG.of_kind(METRIC))

    def test_policies_reference_defined_metrics_and_labels(self):
        metrics = {b["name"]: b for b in (q.body(FULL) for q in CATALOG.of_kind(METRIC))}
        for q in CATALOG.of_kind(POLICY):
            body = q.body(FULL)
            assert body["displayName"] and body["conditions"]
            for cond in body["conditions"]:
                if "conditionMatchedLog" in cond:
                    assert "jsonPayload.event=" in cond["conditionMatchedLog"]["filter"]
                    continue
                threshold = cond["conditionThreshold"]
                metric = re.search(r'logging\.googleapis\.com/user/(\w+)', threshold["filter"])
                assert metric and metric.group(1) in metrics, threshold["filter"]
                labels = {lab["key"] for lab in metrics[metric.group(1)]["metricDescriptor"]
                          ["labels"]}
                for agg in threshold["aggregations"]:
                    for field in agg.get("groupByFields", []):
                        assert field.removeprefix("metric.label.") in labels, field

    def test_prometheus_alerts_point_at_existing_saved_queries(self):
        for alert in alert_rules.ALERTS:
            if alert.saved_query:
                CATALOG.get(alert.saved_query)

    @pytest.mark.parametrize("q", CATALOG.of_kind(SQL), ids=lambda q: q.name)
    def test_sql_is_bigquery_and_transpiles_to_duckdb(self, q):
        sql = q.render(FULL)
        parsed = sqlglot.parse_one(sql, read="bigquery")
        assert parsed is not None
        assert sqlglot.transpile(sql, read="bigquery", write="duckdb",
                                 unsupported_level=sqlglot.ErrorLevel.RAISE)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(queries, list(args), env=env or {}, catch_exceptions=False)


class TestCli:
    def test_every_command_has_help_with_an_example(self):
        for name, cmd in [("queries", queries), *queries.commands.items()]:
            assert cmd.help and "Example:" in cmd.help, name

    def test_list(self):
        out = run("list")
        assert out.exit_code == 0
        for q in CATALOG:
            assert q.name in out.output
        rows = json.loads(run("list", "--kind", "saved", "-o", "json").output)
        assert {r["kind"] for r in rows} == {"saved"} and len(rows) == 9

    def test_show_fills_in_context_and_params(self):
        out = run("show", "tenant-tasks", "--project", "p", "--namespace", "ns",
                  "--window", "2h", "--param", "tenant=org-9")
        assert out.exit_code == 0, out.output
        assert 'jsonPayload.organization_id="org-9"' in out.output
        assert 'resource.labels.namespace_name="ns"' in out.output
        assert "timestamp>=" in out.output

    def test_show_json_is_the_rest_body(self):
        body = json.loads(run("show", "metric/task_duration", "-o", "json").output)
        assert body["name"] == "rhesis_task_duration"
        assert body["valueExtractor"] == "EXTRACT(jsonPayload.duration_ms)"
        saved = json.loads(run("show", "failures", "--format", "json").output)
        assert saved["visibility"] == "SHARED" and "filter" in saved["loggingQuery"]

    @pytest.mark.parametrize("args, message", [
        (("show", "nope"), "no query named"),
        (("show", "failures", "--param", "x"), "NAME=VALUE"),
        (("show", "failures", "--param", "x=1"), "has no parameter"),
        (("show", "failures", "--window", "soon"), "not a duration"),
        (("install",), "needs --project"),
    ])
    def test_errors_exit_2_with_a_message(self, args, message):
        out = run(*args)
        assert out.exit_code == 2 and message in out.output, out.output


class TestInstall:
    def test_install_creates_then_updates_everything(self):
        with LoggingServer(token=TOKEN) as server:
            env = {"RHESIS_LOGGING_ENDPOINT": server.url, "CLOUDSDK_AUTH_ACCESS_TOKEN": TOKEN}
            first = run("install", "--project", "proj-1", "--namespace", "workers", env=env)
            assert first.exit_code == 0, first.output
            n_saved = len(CATALOG.of_kind(SAVED)) + len(CATALOG.of_kind(SQL))
            assert first.output.count("created") == n_saved + len(CATALOG.of_kind(METRIC))
            assert TOKEN not in first.output
            second = run("install", "--project", "proj-1", "--namespace", "workers", env=env)
            assert second.exit_code == 0 and "created" not in second.output
            assert second.output.count("updated") == n_saved + len(CATALOG.of_kind(METRIC))
            state = server
            assert {name for (_, name) in state.metrics} == {
                "rhesis_task_failures", "rhesis_task_retries", "rhesis_task_duration",
                "rhesis_stuck_chords"}
            saved = {qid: body for (_, _, qid), body in state.saved.items()}
            assert len(saved) == n_saved
            failures = saved["rhesis-failures"]
            assert failures["loggingQuery"]["filter"] == CATALOG.get("failures").render(
                Context(project="proj-1", namespace="workers"))
            assert "SELECT" in saved["rhesis-sql-failures"]["opsAnalyticsQuery"]["sqlQueryText"]
            methods = {r.method for r in state.requests}
            assert methods == {"POST", "PUT", "PATCH"}

    def test_dry_run_sends_nothing(self):
        with LoggingServer(token=TOKEN) as server:
            env = {"RHESIS_LOGGING_ENDPOINT": server.url, "CLOUDSDK_AUTH_ACCESS_TOKEN": TOKEN}
            out = run("install", "--project", "p", "--dry-run", "--only", "metric", env=env)
            assert out.exit_code == 0 and out.output.count("would create") == 4
            assert server.requests == []

    def test_a_refused_token_is_a_clear_error_without_the_token(self):
        with LoggingServer(token="the-right-token") as server:
            env = {"RHESIS_LOGGING_ENDPOINT": server.url, "CLOUDSDK_AUTH_ACCESS_TOKEN": TOKEN}
            out = run("install", "--project", "p", env=env)
            assert out.exit_code == 2
            assert "401" in out.output and "UNAUTHENTICATED" in out.output
            assert TOKEN not in out.output

    def test_unreachable_endpoint_is_a_clear_error(self):
        from tests.support import free_port

        env = {"RHESIS_LOGGING_ENDPOINT": f"http://127.0.0.1:{free_port()}",
               "CLOUDSDK_AUTH_ACCESS_TOKEN": TOKEN}
        out = run("install", "--project", "p", "--only", "saved", env=env)
        assert out.exit_code == 2 and "cannot reach Cloud Logging" in out.output


def test_policy_yaml_files_parse_without_rendering():
    """The policy files are YAML even before rendering (editors and linters can read them)."""
    for q in CATALOG.of_kind(POLICY):
        assert yaml.safe_load(q.path.read_text())
