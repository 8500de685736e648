"""Every mistake a newcomer makes gets one line saying what to do and USAGE (2), never a
traceback: the real console script in a subprocess, in an environment where nothing is
configured (``tests.analyzers.console.clean_env``)."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from instrumentation.exit_status import ExitStatus
from tests.analyzers.console import HEALTHY, SCRIPT, clean_env, run_script

COMMANDS = [["analyze"], ["parse"], ["chord", "c-1"], ["task", "t-1"]]


def binary_file(folder: Path) -> Path:
    path = folder / "core.dump"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def binary_gz(folder: Path) -> Path:
    path = folder / "image.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 64))
    return path


# (id, argv builder, environment extras, kubectl on PATH?, what the line must say)
CASES = [
    *[(f"{' '.join(c)}: missing file", lambda t, c=c: [*c, str(t / "nope.log")], {}, True,
       "no such file") for c in COMMANDS],
    *[(f"{' '.join(c)}: a directory", lambda t, c=c: [*c, str(t)], {}, True,
       "is a directory") for c in COMMANDS],
    *[(f"{' '.join(c)}: a binary file", lambda t, c=c: [*c, str(binary_file(t))], {}, True,
       "binary file") for c in COMMANDS],
    ("analyze: a gzipped binary file", lambda t: ["analyze", str(binary_gz(t))], {}, True,
     "binary file"),
    ("parse -f: missing file", lambda t: ["parse", "-f", str(t / "nope.log")], {}, True,
     "No such file"),
    ("analyze -f: a directory", lambda t: ["analyze", "-f", str(t)], {}, True,
     "directory"),
    ("analyze: no kubectl", lambda t: ["analyze", "--source", "kubectl", "-l", "app=w"], {},
     False, "install kubectl"),
    ("analyze: kubectl without a context", lambda t: ["analyze", "-l", "app=w"], {}, True,
     "no current context"),
    ("analyze: kubectl without a selector", lambda t: ["analyze", "--source", "kubectl"], {},
     True, "selector"),
    ("analyze: configured kubectl, no kubectl", lambda t: ["analyze"],
     {"RHESIS_LOGS_SOURCE": "kubectl", "RHESIS_LOGS_SELECTOR": "app=w"}, False,
     "install kubectl"),
    ("analyze: no credentials", lambda t: ["analyze", "--source", "cloud-logging",
                                           "--project", "p"], {}, True,
     "gcloud auth application-default login"),
    ("analyze: cloud-logging without a project",
     lambda t: ["analyze", "--source", "cloud-logging"], {}, True, "--project"),
    ("analyze: bad --since", lambda t: ["analyze", str(HEALTHY), "--since", "yesterday"], {},
     True, "15m, 1h, 2d"),
    ("task: bad --until", lambda t: ["task", "x", str(HEALTHY), "--until", "later"], {}, True,
     "--until"),
    ("analyze: bad format", lambda t: ["analyze", str(HEALTHY), "-o", "pdf"], {}, True,
     "'pdf' is not one of"),
    ("parse: bad format", lambda t: ["parse", str(HEALTHY), "-o", "html"], {}, True,
     "'html' is not one of"),
    ("chord: bad format (old spelling)", lambda t: ["chord", "x", str(HEALTHY), "--format",
                                                    "csv"], {}, True, "'csv' is not one of"),
    ("analyze: unknown option", lambda t: ["analyze", "--json"], {}, True, "--help"),
    ("analyze: unwritable --out-file",
     lambda t: ["analyze", str(HEALTHY), "--out-file", str(t / "no" / "r.txt")], {}, True,
     "cannot write"),
    ("analyze -f with --until", lambda t: ["analyze", "-f", str(HEALTHY), "--until", "1h"],
     {}, True, "--until"),
    ("analyze -f with --since in the future",
     lambda t: ["analyze", "-f", str(HEALTHY), "--since", "2099-01-01T00:00:00Z"], {}, True,
     "in the past"),
    ("analyze -f on Cloud Logging",
     lambda t: ["analyze", "-f", "--source", "cloud-logging", "--project", "p"], {}, True,
     "--follow"),
    ("config: a broken config file", lambda t: ["analyze"],
     {"RHESIS_LOGS_CONFIG": "BROKEN"}, True, "fix or delete it"),
    ("config set: unknown key", lambda t: ["config", "set", "colour", "red"], {}, True,
     "'colour' is not one of"),
    ("config set: a source that is not one", lambda t: ["config", "set", "source", "file"],
     {}, True, "source must be one of"),
    ("analyze: nothing to read", lambda t: ["analyze", "--since", "1h"], {}, True,
     "no input"),
]


@pytest.mark.parametrize(("make_args", "extra", "kubectl", "says"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_one_line_and_usage(tmp_path: Path, make_args, extra: dict, kubectl: bool,
                            says: str) -> None:
    if extra.get("RHESIS_LOGS_CONFIG") == "BROKEN":
        broken = tmp_path / "config.toml"
        broken.write_text("source = \n")
        extra = {"RHESIS_LOGS_CONFIG": str(broken)}
    done = run_script(make_args(tmp_path), env=clean_env(tmp_path, kubectl=kubectl, **extra))
    err = done.stderr.decode()
    assert done.returncode == ExitStatus.USAGE, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ") and says in lines[0], err
    assert done.stdout == b""  # no report, healthy or not


@pytest.mark.parametrize("args", [["analyze"], ["parse"], ["analyze", "-"], ["parse", "-f"]],
                         ids=" ".join)
def test_a_terminal_on_stdin_is_not_input(tmp_path: Path, args: list[str]) -> None:
    """A terminal on stdin (no pipe, no file) with nothing configured: one line, USAGE, and
    no wait for the user to type logs."""
    import pty

    master, slave = pty.openpty()
    try:
        done = subprocess.run([SCRIPT, *args], stdin=slave, capture_output=True,
                              env=clean_env(tmp_path), timeout=60, check=False)
    finally:
        os.close(slave)
        os.close(master)
    err = done.stderr.decode()
    assert done.returncode == ExitStatus.USAGE, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "pipe" in lines[0] and "Traceback" not in err
