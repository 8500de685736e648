"""The reference worker (``worker.app``, health server and all) plus one task that fails
quoting secrets in every way code does it: a log line, a print, the exception message and the
source line of its traceback. For ``test_planted_secrets.py``."""

from __future__ import annotations

import logging

from worker.app import app

_log = logging.getLogger("tests.leaky")


@app.task(name="tests.leaky")
def leaky(forms: list[str]) -> None:
    joined = " | ".join(forms)
    _log.warning("about to connect with %s", joined)
    print("print() from the task:", joined)
    raise PermissionError(f"login failed: {joined}")  # the traceback quotes this line too
