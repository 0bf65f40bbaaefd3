"""Parsers for the value formats Kubernetes and Knative validate: names, durations, quantities.

Knative mixes two duration syntaxes (Go ``30s`` in autoscaling annotations, ISO-8601 ``PT30S``
in Eventing delivery), and a wrong one is only caught by the admission webhook. These small
parsers let the rules reject the same values the cluster rejects, offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .constants import DNS_LABEL_MAX_LENGTH

# Used with fullmatch: a `$`-anchored match would also accept a trailing newline.
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_MAX = DNS_LABEL_MAX_LENGTH
SUBDOMAIN_MAX = 253

_GO_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "\u00b5s": Decimal("1e-6"),
    "\u03bcs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")

_ISO_DURATION = re.compile(
    r"P(?!$)"
    r"(?:(?P<Y>\d+(?:[.,]\d+)?)Y)?(?:(?P<Mo>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<W>\d+(?:[.,]\d+)?)W)?(?:(?P<D>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<H>\d+(?:[.,]\d+)?)H)?(?:(?P<Mi>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<S>\d+(?:[.,]\d+)?)S)?)?"
)
_ISO_SECONDS = {
    "Y": Decimal(365 * 86400),
    "Mo": Decimal(30 * 86400),
    "W": Decimal(7 * 86400),
    "D": Decimal(86400),
    "H": Decimal(3600),
    "Mi": Decimal(60),
    "S": Decimal(1),
}

_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E"
    r"|[eE][+-]?\d+)?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def is_dns1035_label(value: object) -> bool:
    """Knative names (services, revisions, tags): lowercase, starts with a letter, <= 63."""
    return (
        isinstance(value, str) and len(value) <= LABEL_MAX and bool(DNS1035_LABEL.fullmatch(value))
    )


def is_dns1123_label(value: object) -> bool:
    """Kubernetes namespace-style names: lowercase alphanumerics and '-', <= 63."""
    return (
        isinstance(value, str) and len(value) <= LABEL_MAX and bool(DNS1123_LABEL.fullmatch(value))
    )


def is_dns1123_subdomain(value: object) -> bool:
    """Names of most Kubernetes objects (ConfigMap, ServiceAccount, ...): <= 253."""
    return (
        isinstance(value, str)
        and len(value) <= SUBDOMAIN_MAX
        and bool(DNS1123_SUBDOMAIN.fullmatch(value))
    )


def parse_go_duration(text: str) -> Decimal:
    """Seconds in a Go ``time.ParseDuration`` string (``30s``, ``1m30s``, ``0``, ``-5s``)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a Go duration")
    body = text
    sign = Decimal(1)
    if body[0] in "+-":
        sign = Decimal(-1) if body[0] == "-" else Decimal(1)
        body = body[1:]
    if body == "0":
        return Decimal(0)
    pos = 0
    total = Decimal(0)
    while pos < len(body):
        match = _GO_PART.match(body, pos)
        if match is None:
            raise ValueError(f"{text!r} is not a Go duration (like 30s, 5m or 1h30m)")
        total += Decimal(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"{text!r} is not a Go duration (like 30s, 5m or 1h30m)")
    return sign * total


def parse_iso8601_duration(text: str) -> Decimal:
    """Seconds in an ISO-8601 duration (``PT1S``, ``PT0.5S``, ``P1D``); Go style is refused."""
    match = _ISO_DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration (like PT1S or PT0.5S)")
    total = Decimal(0)
    for key, seconds in _ISO_SECONDS.items():
        part = match.group(key)
        if part is not None:
            total += Decimal(part.replace(",", ".")) * seconds
    return total


def parse_quantity(text: object) -> Decimal:
    """The value of a Kubernetes resource quantity (``100m`` -> 0.1, ``1Gi`` -> 1073741824)."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    if isinstance(text, int | float):
        return Decimal(str(text))
    match = _QUANTITY.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (like 100m, 0.5 or 256Mi)")
    try:
        number = Decimal(match.group("num"))
    except InvalidOperation as error:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from error
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))


def dig(document: Any, *keys: str | int) -> Any:
    """The value at ``keys`` in parsed YAML (mapping keys, list indexes), or None.

    Manifests come from users: any step may be missing or of another type, and every
    reader wants None then, not an exception.
    """
    node = document
    for key in keys:
        if isinstance(key, int):
            node = node[key] if isinstance(node, list) and -len(node) <= key < len(node) else None
        else:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node
