"""Errors raised when a Knative configuration or manifest cannot be built or read.

Each error says which rule was broken (the same rule names that ``rules.py`` reports), so a
caller can tell a bad traffic split from a bad autoscaling setting without parsing text.
"""

from __future__ import annotations


class KnativeManifestError(Exception):
    """A Knative manifest or configuration is invalid; ``rule`` names the broken rule."""

    def __init__(self, message: str, *, rule: str = "manifest/invalid") -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule
        self.message = message


class InvalidTrafficConfigError(KnativeManifestError):
    """A traffic split a cluster would refuse (sum, percent range, tags, revision refs)."""


class InvalidAutoscalingConfigError(KnativeManifestError):
    """Autoscaling settings that do not fit the chosen class or Knative's bounds."""
