"""Cloud Logging saved queries, log-based metrics, alert policies and Log Analytics SQL.

The files in this directory are templates whose field names come from
``instrumentation.schema`` (see :mod:`queries.template`); :mod:`queries.catalog` loads and
renders them for a project/cluster/namespace/window, and :mod:`queries.logging_api` installs
saved queries and log-based metrics through the Cloud Logging REST API. The command line is
``rhesis-logs queries list|show|install`` (``queries/cli.py``); see
``docs/dashboards.md``.
"""
