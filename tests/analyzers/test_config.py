"""analyzers.config: the file, the environment, the flags, and what is detected without them.

Detection reads real files laid out as gcloud lays them out (in a temp HOME) and runs the
test suite's fake ``kubectl`` executable; nothing of ours is patched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analyzers import config

BIN = Path(__file__).resolve().parents[1] / "support" / "bin"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with an empty HOME and no kubectl on PATH (nothing to detect)."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    monkeypatch.setenv("PATH", env["PATH"])  # kubectl_context looks on the real PATH
    return env


def gcloud(home: dict[str, str], project: str | None = "proj-from-gcloud",
           adc: dict | None = None) -> None:
    """Lay out ~/.config/gcloud as `gcloud auth application-default login` leaves it."""
    root = Path(home["HOME"]) / ".config" / "gcloud"
    (root / "configurations").mkdir(parents=True)
    (root / "active_config").write_text("default")
    core = f"[core]\nproject = {project}\naccount = me@example.com\n" if project else "[core]\n"
    (root / "configurations" / "config_default").write_text(core)
    (root / "application_default_credentials.json").write_text(
        json.dumps(adc or {"type": "authorized_user", "client_id": "x"}))


def test_config_path_follows_xdg_and_override(tmp_path: Path) -> None:
    assert config.config_path({"HOME": "/h"}) == Path("/h/.config/rhesis-logs/config.toml")
    assert config.config_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path(
        "/x/rhesis-logs/config.toml")
    assert config.config_path({"RHESIS_LOGS_CONFIG": str(tmp_path / "c.toml")}) == (
        tmp_path / "c.toml")


def test_save_then_load_round_trips_awkward_values(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    settings = {"source": "kubectl", "selector": 'app in (worker, "beat")\\x',
                "namespace": "wörkers"}
    config.save(path, settings)
    assert config.load(path) == settings


@pytest.mark.parametrize(("key", "value"), [("colour", "red"), ("source", "file")])
def test_save_refuses_unknown_keys_and_sources(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(config.ConfigError):
        config.save(tmp_path / "c.toml", {key: value})


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("source = \n")
    with pytest.raises(config.ConfigError, match="fix or delete it"):
        config.load(path)


def test_flags_win_over_environment_over_file(home: dict[str, str]) -> None:
    path = config.config_path(home)
    config.save(path, {"source": "kubectl", "namespace": "from-file", "selector": "app=w"})
    env = {**home, "RHESIS_LOGS_NAMESPACE": "from-env"}
    choice = config.resolve({"namespace": None}, environ=env)
    assert (choice.source, choice.get("namespace"), choice.get("selector")) == (
        "kubectl", "from-env", "app=w")
    choice = config.resolve({"namespace": "from-flag"}, environ=env)
    assert choice.get("namespace") == "from-flag"
    assert str(path) in choice.origin


def test_nothing_configured_nothing_detected(home: dict[str, str]) -> None:
    assert config.resolve({}, environ=home).source is None


def test_gcloud_project_is_detected_from_its_files(home: dict[str, str]) -> None:
    gcloud(home)
    choice = config.resolve({}, environ=home)
    assert (choice.source, choice.get("project")) == ("cloud-logging", "proj-from-gcloud")
    assert "gcloud configuration 'default'" in choice.origin


def test_adc_quota_project_when_gcloud_has_none(home: dict[str, str]) -> None:
    gcloud(home, project=None, adc={"type": "authorized_user", "quota_project_id": "quota-p"})
    assert config.resolve({}, environ=home).get("project") == "quota-p"


def test_a_project_without_credentials_is_not_used(home: dict[str, str]) -> None:
    assert config.resolve({}, environ={**home, "GOOGLE_CLOUD_PROJECT": "p"}).source is None


def test_kubectl_current_context_when_no_google_project(
        home: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{home['PATH']}")
    monkeypatch.setenv("FAKE_KUBECTL_CONTEXT", "gke_p_europe-west1_prod")
    choice = config.resolve({"selector": None}, environ=home)
    assert (choice.source, choice.get("context")) == ("kubectl", "gke_p_europe-west1_prod")


def test_a_selector_alone_means_kubectl(home: dict[str, str]) -> None:
    gcloud(home)  # a Google project exists, but the user named pods
    assert config.resolve({"selector": "app=worker"}, environ=home).source == "kubectl"
