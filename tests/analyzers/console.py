"""Running the installed ``rhesis-logs`` console script the way a user does, in a subprocess.

    done = run_script(["analyze", path], env=clean_env(tmp_path), stdin=subprocess.DEVNULL)

``clean_env`` gives the script an empty HOME and config folder, no Google variables and a
PATH holding only the test suite's fake ``kubectl`` (with no current context unless a test
sets ``FAKE_KUBECTL_CONTEXT``) and this virtualenv's python, so nothing of the machine it
runs on (a real kubectl, gcloud's files) is detected. ``NO_GCE_CHECK`` keeps google-auth
from probing the metadata server (only loopback network in tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = str(Path(sys.executable).with_name("rhesis-logs"))
BIN = Path(__file__).resolve().parents[1] / "support" / "bin"  # the fake kubectl
FIXTURES = Path(__file__).parent / "report" / "fixtures"
SMALL = FIXTURES / "worker_small.jsonl"
HEALTHY = FIXTURES / "healthy.jsonl"
REAL = Path(__file__).resolve().parents[1] / "fixtures"  # recorded from real workers


def clean_env(home: Path, *, kubectl: bool = True, **extra: str) -> dict[str, str]:
    """An environment where nothing is configured or detectable (see the module docstring)."""
    path = [str(BIN)] if kubectl else []
    path.append(str(Path(sys.executable).parent))
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "PATH": os.pathsep.join(path), "FAKE_KUBECTL_CONTEXT": "", "NO_GCE_CHECK": "True",
           "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def run_script(args: list[str], *, env: dict[str, str], stdin: Any = subprocess.DEVNULL,
               input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The console script with ``args``; stdout and stderr captured as bytes."""
    return subprocess.run([SCRIPT, *args], env=env, stdin=None if input is not None else stdin,
                          input=input, capture_output=True, timeout=timeout, check=False)
