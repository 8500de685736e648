"""PromQL building blocks shared by the Grafana dashboards and the alert rules.

Metric and label names come from ``instrumentation.metrics`` (which defines what the worker
exports), so a renamed metric changes every panel and alert at once::

    from dashboards import promql as q

    q.rate(m.TASK_FAILED, q.TASK_FILTER, by=("name",))
    # 'sum by (name) (rate(celery_task_failed_total{namespace=~"$namespace", ...}[...]))'

Grafana variables (``$namespace``, ``$queue``, ``$task``, ``$tenant``) and
``$__rate_interval``/``$__range`` are left in the text; :func:`substitute` fills them in for
running a panel's query outside Grafana (the tests do, against a real Prometheus).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from instrumentation import metrics

#: Label Prometheus (or Google Managed Prometheus) adds from the pod's namespace.
NAMESPACE = "namespace"

#: Grafana template variables and the label each one filters.
VARIABLES: dict[str, str] = {
    "namespace": NAMESPACE,
    "queue": metrics.QUEUE,
    "task": metrics.NAME,
    "tenant": metrics.TENANT,
}

RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"


def matchers(*variables: str) -> str:
    """``namespace=~"$namespace", queue=~"$queue"`` for the given variable names."""
    return ", ".join(f'{VARIABLES[v]}=~"${v}"' for v in variables)


#: Filters for the metrics that carry each set of labels.
WORKER_FILTER = matchers("namespace")
QUEUE_FILTER = matchers("namespace", "queue")
TASK_FILTER = matchers("namespace", "queue", "task")
TENANT_FILTER = matchers("namespace", "queue", "task", "tenant")


def _by(by: Iterable[str]) -> str:
    labels = ", ".join(by)
    return f"sum by ({labels}) " if labels else "sum "


def selector(metric: str, filter_: str = "") -> str:
    return f"{metric}{{{filter_}}}" if filter_ else metric


def rate(metric: str, filter_: str = "", by: Iterable[str] = (),
         window: str = RATE_INTERVAL) -> str:
    """``sum by (...) (rate(metric{filter}[window]))``."""
    return f"{_by(by)}(rate({selector(metric, filter_)}[{window}]))"


def increase(metric: str, filter_: str = "", by: Iterable[str] = (), window: str = RANGE) -> str:
    return f"{_by(by)}(increase({selector(metric, filter_)}[{window}]))"


def zero_if_absent(expr: str, like: str) -> str:
    """``expr``, or 0 wherever ``like`` has a series but ``expr`` has none.

    A task that never failed has no ``celery_task_failed_total`` series at all; its failure
    ratio is 0, not "no data". Falling back to ``0 * like`` (instead of ``vector(0)``) keeps
    the labels, and still shows no data when the metrics themselves are missing.
    """
    return f"({expr} or 0 * {like})"


def failure_ratio(filter_: str, by: Iterable[str] = (), window: str = RATE_INTERVAL) -> str:
    """Failed / (succeeded + failed) over ``window``."""
    by = tuple(by)
    succeeded = rate(metrics.TASK_SUCCEEDED, filter_, by, window)
    failed = rate(metrics.TASK_FAILED, filter_, by, window)
    # Either side may have no series for a task (never failed / never succeeded).
    fail = zero_if_absent(failed, succeeded)
    return f"{fail} / ({zero_if_absent(succeeded, failed)} + {fail})"


def quantile(q: float, histogram: str, filter_: str = "", by: Iterable[str] = (),
             window: str = RATE_INTERVAL) -> str:
    """``histogram_quantile(q, sum by (le, ...) (rate(histogram_bucket{filter}[window])))``."""
    return (f"histogram_quantile({q}, "
            f"{rate(histogram + '_bucket', filter_, ('le', *by), window)})")


_VARIABLE = re.compile(r"\$(__rate_interval|__range|__interval|[A-Za-z_]\w*)|\$\{(\w+)\}")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Fill Grafana's variables in ``expr`` (``$name`` or ``${name}``) from ``values``.

    A variable missing from ``values`` is an error: a query run with a ``$`` left in it would
    fail in Prometheus with a less helpful message.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(fill, expr)
