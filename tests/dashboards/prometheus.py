"""A real Prometheus server for tests: started on a free port, queried over its HTTP API.

Debian's ``prometheus`` package provides ``/usr/bin/prometheus`` and ``/usr/bin/promtool``
(``.ci/run`` installs it when missing). A missing binary fails the test that needs it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import free_port, wait_for


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                  else None)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/test (it installs it), "
                    f"or `apt-get install -y {name}`")
    return path


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen
    log_path: Path

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; returns ``data``, fails the test on an API error."""
        query = urllib.parse.urlencode(params, doseq=True)
        request = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus rejected {params or path}: "
                                 f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, time_s: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if time_s is not None:
            params["time"] = f"{time_s:.3f}"
        data = self.api("query", **params)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data]

    def scalar(self, expr: str, time_s: float | None = None) -> float | None:
        result = self.query(expr, time_s)
        return float(result[0]["value"][1]) if result else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def write_config(path: Path, job: str, target: str, labels: dict[str, str],
                 rule_files: Sequence[Path] = ()) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                   "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job,
                            "static_configs": [{"targets": [target], "labels": labels}]}],
    }
    path.write_text(yaml.safe_dump(config))


@contextlib.contextmanager
def running_prometheus(tmp: Path, config: Path) -> Iterator[Prometheus]:
    port = free_port()
    log_path = tmp / "prometheus.log"
    proc = subprocess.Popen(
        [binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}", proc, log_path)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        wait_for(ready, timeout=30, message=lambda: "prometheus to be ready:\n" + server.log())
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
