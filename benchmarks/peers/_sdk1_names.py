"""Expose the CloudEvents SDK 1.x module names on top of SDK 2.x's ``cloudevents.v1``.

SDK 2.x keeps the complete 1.x implementation (its ``__version__`` is 1.12.1) under
``cloudevents.v1``. Libraries written for 1.x, like fastapi-cloudevents, import the
top-level names; registering the aliases in ``sys.modules`` lets them run unmodified.
"""

from __future__ import annotations

import importlib
import sys

import cloudevents

_ALIASES = ("abstract", "conversion", "exceptions", "http", "pydantic", "sdk", "kafka")

for _name in _ALIASES:
    _target = f"cloudevents.{_name}"
    if _target not in sys.modules:
        sys.modules[_target] = importlib.import_module(f"cloudevents.v1.{_name}")
    setattr(cloudevents, _name, sys.modules[_target])
