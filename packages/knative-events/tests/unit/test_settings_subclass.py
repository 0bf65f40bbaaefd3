"""A service bakes its defaults into a Settings subclass; the environment still wins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from knative_events import Settings as RuntimeSettings
from knative_events import SettingsError
from knative_events.settings import PORT_MAX, PORT_MIN


@dataclass(frozen=True, init=False)
class ServiceSettings(RuntimeSettings):
    """The shape the template renders (annotations are strings in this module)."""

    port: int = 8080
    k_service: str = "hello-events"
    handler_timeout_seconds: float = 30.0
    max_concurrent_handlers: int = 100
    greeting: str = "hello"
    batch_size: int = 10
    ratio: float = 0.5
    token: str | None = None
    enabled: bool = False


# The same subclass as a service module without ``from __future__ import annotations``
# writes it: the field types are real types there, not strings.
PLAIN_MODULE = """
from dataclasses import dataclass

from knative_events import Settings as RuntimeSettings


@dataclass(frozen=True, init=False)
class Settings(RuntimeSettings):
    port: int = 8080
    k_service: str = "hello-events"
    handler_timeout_seconds: float = 30.0
    max_concurrent_handlers: int = 100
    batch_size: int = 10
    ratio: float = 0.5
    token: int | None = None


def total(settings: Settings) -> float:
    return settings.batch_size + settings.ratio + settings.port
"""


@pytest.fixture(scope="module")
def plain_settings(tmp_path_factory: pytest.TempPathFactory) -> type[RuntimeSettings]:
    import importlib.util

    path = tmp_path_factory.mktemp("service") / "plain_settings.py"
    path.write_text(PLAIN_MODULE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("plain_settings", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings: type[RuntimeSettings] = module.Settings
    return settings


def test_the_subclass_defaults_replace_the_runtime_defaults() -> None:
    settings = ServiceSettings(environ={})
    assert (settings.port, settings.k_service) == (8080, "hello-events")
    assert settings.max_concurrent_handlers == 100
    assert settings.max_body_bytes == 1024 * 1024  # inherited as is
    assert (settings.greeting, settings.batch_size, settings.ratio) == ("hello", 10, 0.5)
    assert settings.token is None
    assert RuntimeSettings(environ={}).max_concurrent_handlers == 1000


def test_the_environment_overrides_inherited_and_own_fields() -> None:
    environ = {
        "PORT": "9000",
        "K_SERVICE": "from-knative",
        "MAX_CONCURRENT_HANDLERS": "7",
        "GREETING": "hi",
        "BATCH_SIZE": " 25 ",
        "RATIO": "0.25",
        "TOKEN": "secret",
        "ENABLED": "true",
    }
    settings = ServiceSettings(environ=environ)
    assert (settings.port, settings.k_service, settings.max_concurrent_handlers) == (
        9000,
        "from-knative",
        7,
    )
    assert (settings.greeting, settings.batch_size, settings.ratio) == ("hi", 25, 0.25)
    assert settings.token == "secret"
    assert settings.enabled is True


def test_own_fields_from_code_win_and_are_frozen() -> None:
    settings = ServiceSettings(environ={"BATCH_SIZE": "25"}, batch_size=3)
    assert settings.batch_size == 3
    with pytest.raises(AttributeError):
        settings.batch_size = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown settings: batch"):
        ServiceSettings(environ={}, batch=3)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("BATCH_SIZE", "many", "must be an integer"),
        ("RATIO", "inf", "must be a number"),
        ("ENABLED", "maybe", "must be true or false"),
        ("PORT", "70000", f"must be {PORT_MIN} to {PORT_MAX}"),
    ],
)
def test_bad_values_of_own_fields_name_their_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}=") as caught:
        ServiceSettings(environ={name: value})
    assert problem in str(caught.value)


def test_a_subclass_with_real_annotations_parses_the_same(
    plain_settings: type[RuntimeSettings],
) -> None:
    settings = plain_settings(environ={"BATCH_SIZE": "12", "RATIO": "2", "TOKEN": "5"})
    values = {field.name: getattr(settings, field.name) for field in fields(settings)}
    assert values["batch_size"] == 12
    assert values["ratio"] == 2.0
    assert values["token"] == 5  # int | None: an int when set
    assert values["k_service"] == "hello-events"
    with pytest.raises(SettingsError, match="BATCH_SIZE='x'"):
        plain_settings(environ={"BATCH_SIZE": "x"})


def test_the_tcp_port_range_is_the_settings_own() -> None:
    assert (PORT_MIN, PORT_MAX) == (1, 65535)


def test_mypy_strict_accepts_the_subclass_a_service_writes(tmp_path: Path) -> None:
    service = tmp_path / "service_settings.py"
    service.write_text(
        PLAIN_MODULE
        + textwrap.dedent(
            """

            def build() -> float:
                return total(Settings(environ={"BATCH_SIZE": "1"}, port=9000))
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(service),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
