"""Each processor of the chain, called directly (structlog's way of testing processors)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import processors, schema
from instrumentation.redaction import Redactor, redact_mapping, redact_text, redact_url


class TestNormalizeEvent:
    """structlog's positional message becomes `message`; our event name becomes `event`."""

    def test_plain_line_is_a_log_event(self):
        out = processors.normalize_event(None, "info", {"event": "hello"})
        assert out == {schema.MESSAGE: "hello", schema.EVENT: schema.Event.LOG}

    def test_named_event_keeps_its_message(self):
        out = processors.normalize_event(None, "info", {"event": "Chord stuck",
                                               processors.EVENT_NAME_KEY: schema.Event.CHORD_STUCK})
        assert out[schema.EVENT] == "chord_stuck" and out[schema.MESSAGE] == "Chord stuck"

    def test_task_event_has_no_message(self):
        """The event and the task name say what "Task x failed" would."""
        out = processors.normalize_event(None, "info", {"event": "Task x failed",
                                               processors.EVENT_NAME_KEY: schema.Event.TASK_FAILED})
        assert out[schema.EVENT] == "task_failed" and schema.MESSAGE not in out

    def test_non_string_message(self):
        assert processors.normalize_event(None, "info", {"event": 42})[schema.MESSAGE] == "42"


class TestSeverity:
    """Severity comes from the override, the stdlib record, or the method name."""

    @pytest.mark.parametrize(("method", "expected"), [
        ("debug", "DEBUG"), ("info", "INFO"), ("warning", "WARNING"), ("warn", "WARNING"),
        ("error", "ERROR"), ("exception", "ERROR"), ("critical", "CRITICAL"),
    ])
    def test_method_names(self, method, expected):
        assert processors.add_severity(None, method, {})[schema.SEVERITY] == expected

    def test_override_wins(self):
        out = processors.add_severity(None, "info", {processors.SEVERITY_KEY: "NOTICE"})
        assert out[schema.SEVERITY] == "NOTICE" and processors.SEVERITY_KEY not in out

    def test_stdlib_record(self):
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "m", None, None)
        assert (
            processors.add_severity(None, "warning", {"_record": record})[schema.SEVERITY]
            == "WARNING"
        )


class TestTime:
    """RFC 3339, UTC, microseconds; a stdlib record keeps its creation time."""

    def test_format(self):
        value = processors.add_time(None, "info", {})[schema.TIME]
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs(parsed.replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)).total_seconds() < 5

    def test_record_time(self):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        record.created = 0.5
        assert processors.add_time(None, "info", {"_record": record})[schema.TIME] == \
            "1970-01-01T00:00:00.500000Z"


class TestTraceContext:
    """Inside a sampled span, the line carries the ids once: Cloud Logging's fields with a
    project, the plain ones without."""

    def test_no_span_adds_nothing(self):
        assert processors.AddTraceContext("proj")(None, "info", {}) == {}

    def test_inside_span(self):
        tracer = TracerProvider().get_tracer("t")
        with tracer.start_as_current_span("x") as span:
            out = processors.AddTraceContext("proj")(None, "info", {})
        ctx = span.get_span_context()
        assert out == {schema.TRACE: f"projects/proj/traces/{ctx.trace_id:032x}",
                       schema.SPAN_ID: f"{ctx.span_id:016x}", schema.TRACE_SAMPLED: True}

    def test_without_project_the_plain_ids(self):
        tracer = TracerProvider().get_tracer("t")
        with tracer.start_as_current_span("x") as span:
            out = processors.AddTraceContext(None)(None, "info", {})
        ctx = span.get_span_context()
        assert out == {
            schema.TRACE_ID: f"{ctx.trace_id:032x}",
            schema.OTEL_SPAN_ID: f"{ctx.span_id:016x}",
        }
        assert trace.get_current_span().get_span_context().is_valid is False

    def test_unsampled_span_adds_nothing(self):
        """An unsampled span is recorded nowhere: its ids would link to nothing."""
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
        with tracer.start_as_current_span("x") as span:
            out = processors.AddTraceContext("proj")(None, "info", {})
        assert span.get_span_context().is_valid and out == {}

    def test_next_span_gets_its_own_ids(self):
        tracer = TracerProvider().get_tracer("t")
        add = processors.AddTraceContext("proj")
        seen = []
        for _ in range(2):
            with tracer.start_as_current_span("x") as span:
                seen.append(
                    (add(None, "info", {})[schema.SPAN_ID], span.get_span_context().span_id)
                )
        assert [int(a, 16) for a, _ in seen] == [b for _, b in seen] and seen[0] != seen[1]


class TestFormatException:
    """exc_info becomes type, message and ONE traceback string."""

    def test_exc_info_true(self):
        try:
            raise KeyError("missing")
        except KeyError:
            out = processors.format_exception(None, "error", {"exc_info": True})
        assert out[schema.EXCEPTION_TYPE] == "KeyError"
        assert out[schema.EXCEPTION_MESSAGE] == "'missing'"
        assert out[schema.TRACEBACK].startswith("Traceback") and "KeyError" in out[schema.TRACEBACK]

    def test_marker_lines_are_left_out(self):
        """Python's ^^^^ lines under the failing expression go; every frame stays."""
        def fail():
            return {}["missing"] + 1

        try:
            fail()
        except KeyError:
            out = processors.format_exception(None, "error", {"exc_info": True})
        text = out[schema.TRACEBACK]
        assert "in fail" in text and "return {}" in text and text.endswith("KeyError: 'missing'")
        assert not any(line.strip() and not line.strip().strip("^~")
                       for line in text.splitlines())

    def test_exception_instance_with_module(self):
        class Boom(Exception):
            pass

        try:
            raise Boom("x")
        except Boom as exc:
            out = processors.format_exception(None, "error", {"exc_info": exc})
        assert out[schema.EXCEPTION_TYPE].endswith("Boom")

    def test_huge_traceback_is_capped(self):
        text = "x" * (processors.MAX_TRACEBACK * 3)
        capped = processors.cap_traceback(text)
        assert len(capped) < processors.MAX_TRACEBACK + 100 and "characters omitted" in capped
        assert processors.cap_traceback("short") == "short"

    def test_no_exception(self):
        assert processors.format_exception(None, "info", {"exc_info": None}) == {}


class TestRenderJson:
    """One JSON object on one line, whatever the values."""

    def test_empty_values_are_left_out(self):
        data = json.loads(
            processors.render_json(
                None,
                "info",
                {
                    schema.MESSAGE: "m",
                    schema.GROUP_ID: None,
                    schema.RETRIES: 0,
                    schema.REDELIVERED: False,
                },
            )
        )
        assert data == {schema.MESSAGE: "m", schema.RETRIES: 0, schema.REDELIVERED: False}

    def test_leading_keys_and_one_line(self):
        line = processors.render_json(None, "info", {"x": 1, schema.MESSAGE: "m", schema.TIME: "t",
                                            schema.TRACEBACK: "a\nb"})
        assert b"\n" not in line and isinstance(line, bytes)
        assert list(json.loads(line))[:2] == [schema.TIME, schema.MESSAGE]

    def test_odd_values_fall_back_to_repr(self):
        class Weird:
            def __repr__(self):
                return "<weird>"

        line = processors.render_json(
            None, "info", {"a": Weird(), "b": {1, 2}, "c": ValueError("v"), "d": {3: "int key"}}
        )
        data = json.loads(line)
        assert data["a"] == "<weird>" and sorted(data["b"]) == [1, 2]
        assert data["c"] == "ValueError: v" and data["d"] == {"3": "int key"}

    def test_unrepresentable_value(self):
        class Bad:
            def __repr__(self):
                raise RuntimeError("no")

        data = json.loads(processors.render_json(None, "info", {"a": Bad()}))
        assert data["a"].startswith("<unrepresentable Bad")

    def test_huge_int_does_not_raise(self):
        data = json.loads(processors.render_json(None, "info", {"n": 2**80}))
        assert data["n"] == str(2**80)


class TestRedaction:
    """Secrets in URLs, key=value pairs, secret-named keys and bearer tokens are masked."""

    @pytest.mark.parametrize(("text", "expected"), [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://default:s3cr3t@redis.example:6380/1", "rediss://default:***@redis.example:6380/1"),
        ("amqp://user@host//", "amqp://user@host//"),
        ("failed password=hunter2 for x", "failed password=*** for x"),
        ('{"api_key": "abc123"}', '{"api_key": "***"}'),
        ("Authorization: Bearer abcdefghijkl", "Authorization: ***"),
        ("token=abc&x=1", "token=***&x=1"),
        ("nothing to see", "nothing to see"),
    ])
    def test_text(self, text, expected):
        assert redact_text(text) == expected

    def test_url(self):
        assert redact_url("redis://u:p@h/0") == "redis://u:***@h/0"

    def test_mapping_by_key(self):
        out = redact_mapping({"REDIS_PASS": "x", "BROKER_URL": "redis://:pw@h/0",
                              "nested": {"client_secret": "y"}, "HOME": "/root",
                              "tokens": ["a"]})
        assert out == {"REDIS_PASS": "***", "BROKER_URL": "redis://:***@h/0",
                       "nested": {"client_secret": "***"}, "HOME": "/root", "tokens": "***"}

    def test_processor_scrubs_exception_fields(self):
        out = Redactor(skip=frozenset({schema.TASK_ID}))(None, "error", {
            schema.EXCEPTION_MESSAGE: "cannot reach redis://:pw@h/0",
            schema.TRACEBACK: "Traceback...\nConnectionError: redis://:pw@h/0",
            schema.TASK_ID: "redis://:left@alone", "password": "x", schema.PID: 1})
        assert "pw" not in out[schema.EXCEPTION_MESSAGE] and "pw" not in out[schema.TRACEBACK]
        assert out["password"] == "***" and out[schema.TASK_ID] == "redis://:left@alone"


def test_safe_write_logger_swallows_broken_stream():
    """A closed stream drops the line and counts it instead of raising into the caller."""
    from instrumentation.logconfig import LineWriter, SafeWriteLogger, _state

    class Broken:
        def write(self, _):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    before = _state.dropped
    SafeWriteLogger(LineWriter(Broken())).msg("x")
    assert _state.dropped == before + 1
    assert sys.exc_info() == (None, None, None)


def test_module_level_logger_follows_configuration():
    """A logger created before configure_logging writes JSON once logging is configured."""
    import io

    from instrumentation import configure_logging, get_logger

    log = get_logger("early.module", component="x")
    out = io.StringIO()
    configure_logging(stream=out)
    log.info("hello")
    rec = json.loads(out.getvalue())
    assert rec[schema.LOGGER] == "early.module" and rec["component"] == "x"
    out2 = io.StringIO()
    configure_logging(stream=out2)
    log.bind(extra=1).warning("again")
    assert json.loads(out2.getvalue())["extra"] == 1
