"""Where ``rhesis-logs analyze`` reads when it is given no file and no pipe.

    rhesis-logs config set source cloud-logging
    rhesis-logs config set project my-gcp-project
    rhesis-logs config set namespace workers
    rhesis-logs config show
    rhesis-logs analyze --since 1h          # now reads the configured source

The settings live in a small TOML file, ``$XDG_CONFIG_HOME/rhesis-logs/config.toml``
(``~/.config/rhesis-logs/config.toml``), or the file ``RHESIS_LOGS_CONFIG`` names. Each key can
also come from the environment (``RHESIS_LOGS_SOURCE``, ``RHESIS_LOGS_PROJECT``, ...) and from
the command's flags; a flag wins over the environment, which wins over the file.

With nothing configured, :func:`detect` looks where a GKE user's tools already are: the project
of their gcloud configuration or application-default credentials (read from the files, no
network), else kubectl's current context. :func:`resolve` returns the choice together with a
sentence saying where it came from, which the CLI prints on stderr, so a report never reads a
source the user did not know about.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from analyzers.errors import AnalyzerError

#: Sources a configuration may name (files and stdin need no configuration).
SOURCES = ("cloud-logging", "kubectl", "log-analytics")

#: Every key the file may hold, with what it means (``config set`` refuses any other).
KEYS: dict[str, str] = {
    "source": "where to read when no file or pipe is given: " + ", ".join(SOURCES),
    "project": "Cloud Logging / Log Analytics: Google Cloud project id",
    "cluster": "GKE cluster name",
    "namespace": "Kubernetes namespace of the workers",
    "selector": "label selector of the worker pods (kubectl), e.g. app=worker",
    "context": "kubeconfig context (kubectl)",
    "container": "only this container of the pods",
    "dataset": "Log Analytics: the log bucket's linked BigQuery dataset",
    "location": "Log Analytics: the dataset's location",
}

ENV_PREFIX = "RHESIS_LOGS_"


class ConfigError(AnalyzerError):
    """The configuration file or a value in it is unusable."""


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The configuration file: ``RHESIS_LOGS_CONFIG``, else under ``XDG_CONFIG_HOME``."""
    env = os.environ if environ is None else environ
    if env.get("RHESIS_LOGS_CONFIG"):
        return Path(env["RHESIS_LOGS_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "rhesis-logs" / "config.toml"


def load(path: Path) -> dict[str, str]:
    """The settings in ``path`` (empty when the file does not exist)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix or delete it") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(KEYS)}")
    return {key: str(value) for key, value in data.items()}


def check(key: str, value: str) -> None:
    """Refuse a key the file cannot hold or a source that does not exist."""
    if key not in KEYS:
        raise ConfigError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    if key == "source" and value not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, not {value!r} "
                          "(files and pipes need no configuration)")


def save(path: Path, settings: Mapping[str, str]) -> None:
    """Write ``settings`` as TOML (strings only), atomically, creating the folder."""
    for key, value in settings.items():
        check(key, value)
    # JSON string escapes are valid TOML basic-string escapes, so json.dumps quotes safely.
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(settings.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class Choice:
    """The source to read and its settings, with where they came from (for stderr)."""

    source: str | None
    settings: dict[str, str] = field(default_factory=dict)
    origin: str = ""

    def get(self, key: str) -> str | None:
        return self.settings.get(key)


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``RHESIS_LOGS_<KEY>`` variables that are set (and not empty)."""
    env = os.environ if environ is None else environ
    return {key: env[ENV_PREFIX + key.upper()] for key in KEYS
            if env.get(ENV_PREFIX + key.upper())}


def gcloud_project(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The project the user's Google tools point at, and where it was found; no network.

    The order gcloud and the client libraries use: the environment, gcloud's active
    configuration, then the application-default credentials' quota project. Only a project
    with credentials beside it counts, since without them Cloud Logging would refuse anyway.
    """
    env = os.environ if environ is None else environ
    gcloud_dir = Path(env.get("CLOUDSDK_CONFIG") or
                      Path(env.get("HOME", "~")).expanduser() / ".config" / "gcloud")
    adc = Path(env["GOOGLE_APPLICATION_CREDENTIALS"]) if env.get(
        "GOOGLE_APPLICATION_CREDENTIALS") else gcloud_dir / "application_default_credentials.json"
    has_credentials = adc.is_file() or (gcloud_dir / "credentials.db").is_file()
    if not has_credentials:
        return None
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        if env.get(name):
            return env[name], f"${name}"
    active = "default"
    active_file = gcloud_dir / "active_config"
    if active_file.is_file():
        active = active_file.read_text().strip() or "default"
    parser = configparser.ConfigParser()
    config_file = gcloud_dir / "configurations" / f"config_{active}"
    try:
        parser.read(config_file)
    except configparser.Error:
        parser = configparser.ConfigParser()
    project = parser.get("core", "project", fallback=None)
    if project:
        return project, f"gcloud configuration {active!r}"
    try:
        quota = json.loads(adc.read_text()).get("quota_project_id")
    except (OSError, ValueError):
        quota = None
    if quota:
        return quota, f"application-default credentials ({adc})"
    return None


def kubectl_context(run: Callable[..., subprocess.CompletedProcess] = subprocess.run
                    ) -> str | None:
    """kubectl's current context, or None without kubectl or a context."""
    if shutil.which("kubectl") is None:
        return None
    try:
        done = run(["kubectl", "config", "current-context"], capture_output=True, text=True,
                   timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    context = done.stdout.strip()
    return context if done.returncode == 0 and context else None


def resolve(flags: Mapping[str, str | None], *, environ: Mapping[str, str] | None = None,
            detect: bool = True) -> Choice:
    """The source and settings for a command run with no file and no pipe.

    ``flags``: the command's own options (None when not given). Precedence: flags, then
    ``RHESIS_LOGS_*``, then the file, then (``detect``) the user's gcloud project or kubectl
    context. ``Choice.source`` is None when nothing points anywhere. ``Choice.origin`` says
    why, in words fit to follow the source's description ("from gcloud configuration
    'default'", "configured in ~/.config/rhesis-logs/config.toml").
    """
    path = config_path(environ)
    from_file = load(path)
    from_env = from_environment(environ)
    given = {key: value for key, value in flags.items() if value}
    settings = {**from_file, **from_env, **given}
    origins = [name for name, part in (("flags", given), ("environment", from_env),
                                        (str(path), from_file)) if part]
    source = settings.pop("source", None)
    if source:
        check("source", source)
        return Choice(source, settings, "configured in " + ", ".join(origins))
    if not detect:
        return Choice(None, settings, "")
    # Settings that only one source uses say which one the user means.
    if settings.get("project") or settings.get("cluster"):
        return Choice("cloud-logging", settings, "settings from " + ", ".join(origins))
    if settings.get("selector") or settings.get("context"):
        return Choice("kubectl", settings, "settings from " + ", ".join(origins))
    found = gcloud_project(environ)
    if found:
        project, why = found
        return Choice("cloud-logging", {**settings, "project": project},
                      f"from {why}")
    context = kubectl_context()
    if context:
        return Choice("kubectl", {**settings, "context": context},
                      "kubectl's current context")
    return Choice(None, settings, "")
