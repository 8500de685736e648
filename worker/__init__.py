"""The reference Celery worker of rhesis-logs and its operational tools.

``worker.app`` is the Celery app (``celery -A worker.app worker``), ``worker.tasks`` the
simulated test-run workload, ``worker.health`` the health and debug HTTP server,
``worker.inspection`` the library behind ``rhesis-worker status|task|retries``,
``worker.chord_monitor`` the stuck-chord tools, ``worker.cli`` the ``rhesis-worker`` command.
See docs/worker.md.
"""
