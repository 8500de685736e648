"""Reports never show a secret, even from logs our instrumentation did not write: a plain
Celery text log whose failures quote passwords and tokens, analyzed in every format."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzers.cli import main
from analyzers.render import FORMATS

SECRETS = ["hunter 2 zz01", "zz02Tok3nValue", "ghp_zz03aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
           "zz04RedisPass", "sk_live_zz05aBcDeFgHiJkLmNoPqRsT"]
MESSAGES = [f'password="{SECRETS[0]}"', f"token {SECRETS[1]}", SECRETS[2],
            f"redis://:{SECRETS[3]}@cache:6379/0", f"Stripe said no to {SECRETS[4]}"]


def _plain_log(path: Path) -> Path:
    lines = []
    for i, message in enumerate(MESSAGES):
        task_id = f"50ae6548-8684-4c3a-a39d-ab02090052a{i}"
        stamp = f"2026-11-28 12:46:5{i},671"
        lines += [
            f"[{stamp}: INFO/MainProcess] Task plain.leaky[{task_id}] received",
            f"[{stamp}: ERROR/ForkPoolWorker-2] Task plain.leaky[{task_id}] raised "
            f"unexpected: PermissionError({message!r})",
            "Traceback (most recent call last):",
            '  File "/app/tasks.py", line 12, in leaky',
            f"    connect({message!r})",
            f"PermissionError: {message}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_report_format(tmp_path: Path, fmt: str) -> None:
    log = _plain_log(tmp_path / "celery.log")
    result = CliRunner().invoke(main, ["analyze", str(log), "-f", fmt],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "plain.leaky" in result.output  # the failures are in the report...
    leaked = [secret for secret in SECRETS if secret in result.output]
    assert leaked == []  # ...without their secrets


def test_no_secret_in_a_task_timeline(tmp_path: Path) -> None:
    log = _plain_log(tmp_path / "celery.log")
    for fmt in ("text", "json", "markdown"):
        result = CliRunner().invoke(
            main, ["task", "50ae6548-8684-4c3a-a39d-ab02090052a0", str(log), "-f", fmt],
            catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert SECRETS[0] not in result.output
