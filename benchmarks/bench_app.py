"""The worker the instrumentation benchmark runs: stock Celery, or the same app instrumented.

BENCH_INSTRUMENT=1 adds the two lines a user adds (tracing on, the default); ``notrace`` the
same with ``tracing=False``; ``otel`` instruments Celery with OpenTelemetry's own
``CeleryInstrumentor`` first (its spans instead of ours); otherwise Celery logs its default
prose.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery("bench", broker=os.environ["BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                worker_prefetch_multiplier=4, broker_connection_retry_on_startup=True)

MODE = os.environ.get("BENCH_INSTRUMENT", "0")  # 0: stock, 1: instrumented, notrace: no spans
if MODE == "otel":
    # OpenTelemetry's own Celery instrumentation first, as an app (or opentelemetry-instrument)
    # may do: instrument() then leaves the spans to it.
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()
if MODE in ("1", "notrace", "otel"):
    from instrumentation import instrument

    instrument(app, service="bench", environment="bench", project="bench-project",
               tracing=MODE != "notrace")


@app.task(name="bench.add")
def add(x: int, y: int) -> int:
    return x + y
