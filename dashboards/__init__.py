"""Grafana dashboards and Prometheus alert rules for the Celery workers, written as code.

``dashboards.build`` renders ``dashboards/*.json`` and ``dashboards/alerts.yaml`` (run
``python -m dashboards.build``; ``--check`` fails when the committed files are stale);
``dashboards.promql`` holds the PromQL pieces both use, and ``dashboards.alerts`` the rules.
See ``docs/dashboards.md``.
"""
