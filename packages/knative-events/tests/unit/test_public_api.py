"""The package's public names: what a service imports from ``knative_events``."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import knative_events
from knative_events.app import ServiceApp, create_app
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry, Registration
from knative_events.emitter import EmitError, EventEmitter
from knative_events.settings import Settings, SettingsError


def test_the_public_names_are_the_modules_objects() -> None:
    assert knative_events.CloudEvent is CloudEvent
    assert knative_events.HandlerRegistry is HandlerRegistry
    assert knative_events.Registration is Registration
    assert knative_events.ServiceApp is ServiceApp
    assert knative_events.create_app is create_app
    assert knative_events.Settings is Settings
    assert knative_events.SettingsError is SettingsError
    assert knative_events.EventEmitter is EventEmitter
    assert knative_events.EmitError is EmitError
    assert set(knative_events.__all__) <= set(dir(knative_events))


def test_the_version_is_the_distributions() -> None:
    assert knative_events.__version__ == importlib.metadata.version("knative-events")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = knative_events.Nope  # type: ignore[attr-defined]


def test_importing_the_package_loads_none_of_its_modules() -> None:
    """Names load on first use: ``import knative_events`` alone imports nothing else."""
    source_root = str(Path(knative_events.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    probe = (
        "import sys, knative_events\n"
        "print(sorted(m for m in sys.modules if m.startswith(('knative_events.', 'orjson',"
        " 'importlib.metadata'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.stdout.strip() == "[]"
