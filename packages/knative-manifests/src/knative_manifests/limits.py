"""The bounds both the configuration models and the admission rules enforce, checked once.

``config.py`` refuses to build a model a cluster would refuse and ``rules.py`` reports the
same problems in a manifest. When each kept its own comparison, the two could drift (one
accepting a request above its limit that the other refused). Each function here returns the
message of the broken bound, or ``None``; the model raises it, the rule reports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeGuard

from . import constants as c
from .formats import parse_go_duration, parse_quantity


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def scale_error(name: str, value: object) -> str | None:
    """min-scale and max-scale are int32 values >= 0 (max-scale 0 = no upper bound)."""
    if not _is_int(value) or not c.SCALE_MIN <= value <= c.SCALE_MAX:
        return f"{name} {value!r} must be an int32 >= 0"
    return None


def min_above_max_error(min_scale: int, max_scale: int) -> str | None:
    """With a bounded max-scale (not 0), min-scale must not exceed it."""
    if 0 < max_scale < min_scale:
        return f"max-scale={max_scale} is less than min-scale={min_scale}"
    return None


def hpa_scale_to_zero_error(class_short: str, min_scale: int | None) -> str | None:
    """The HPA class cannot scale to zero, so a min-scale of 0 (or none) would be a lie."""
    if class_short == c.HPA and (min_scale is None or min_scale == 0):
        return "hpa cannot scale to zero: min-scale must be at least 1"
    return None


def autoscaling_target_error(value: object) -> str | None:
    """autoscaling.knative.dev/target is a number of at least 0.01."""
    message = f"must be a number >= {c.AUTOSCALING_TARGET_MIN:g}"
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"target {value!r} {message}"
    if not Decimal(str(value)) >= Decimal(str(c.AUTOSCALING_TARGET_MIN)):
        return f"target {value} {message}"  # the same text for 0.001 and Decimal("0.001")
    return None


def whole_duration_error(
    text: object, low: int, high: int, what: str, *, low_inclusive: bool = True
) -> str | None:
    """A Go duration (``30s``, ``1m``) of whole seconds within ``low``..``high``."""
    if not isinstance(text, str):
        return f"{what} must be a string Go duration"
    try:
        seconds = parse_go_duration(text)
    except ValueError as error:
        return str(error)
    if seconds != seconds.to_integral_value():
        return f"{what} {text!r} must be whole seconds"
    if seconds < low or seconds > high or (not low_inclusive and seconds == low):
        return f"{what} {text!r} must be between {low}s and {high}s"
    return None


def scale_down_delay_error(text: object) -> str | None:
    """scale-down-delay is a Go duration of whole seconds from 0s to 1h."""
    return whole_duration_error(text, 0, c.SCALE_DOWN_DELAY_MAX_SECONDS, "scale-down-delay")


def container_concurrency_error(value: object) -> str | None:
    """containerConcurrency is an integer 0..1000 (0 = no limit per pod)."""
    if not _is_int(value) or not (
        c.CONTAINER_CONCURRENCY_MIN <= value <= c.CONTAINER_CONCURRENCY_MAX
    ):
        return (
            f"containerConcurrency {value!r} must be between {c.CONTAINER_CONCURRENCY_MIN} "
            f"and {c.CONTAINER_CONCURRENCY_MAX}"
        )
    return None


def timeout_seconds_error(value: object, *, zero_means_unset: bool = False) -> str | None:
    """timeoutSeconds is 1..600; in a manifest 0 means "unset" and Knative defaults it."""
    if _is_int(value) and zero_means_unset and value == 0:
        return None
    if not _is_int(value) or not c.TIMEOUT_SECONDS_MIN <= value <= c.TIMEOUT_SECONDS_MAX:
        return (
            f"timeoutSeconds {value!r} must be between {c.TIMEOUT_SECONDS_MIN} and "
            f"{c.TIMEOUT_SECONDS_MAX}"
        )
    return None


def container_port_error(value: object) -> str | None:
    """A container port is 1..65535 and not one the queue-proxy listens on."""
    if not _is_int(value) or value in c.RESERVED_PORTS or not c.PORT_MIN <= value <= c.PORT_MAX:
        return (
            f"port {value!r} is reserved by Knative ({', '.join(map(str, c.RESERVED_PORTS))}) "
            f"or out of range {c.PORT_MIN}..{c.PORT_MAX}"
        )
    return None


def percent_error(value: object) -> str | None:
    """A traffic target's percent is an integer 0..100."""
    if not _is_int(value) or not c.PERCENT_MIN <= value <= c.PERCENT_MAX:
        return f"percent {value!r} must be between {c.PERCENT_MIN} and {c.PERCENT_MAX}"
    return None


def delivery_retry_error(value: object, *, bounded: bool = False) -> str | None:
    """retry is an integer >= 0; ``bounded`` also applies this package's upper bound (100).

    Knative caps nothing, but a model built for a service (and the template's question)
    refuses retry counts that would keep a failing event in flight for hours.
    """
    high = c.DELIVERY_RETRY_MAX if bounded else None
    if not _is_int(value) or value < c.DELIVERY_RETRY_MIN or (high is not None and value > high):
        bound = f">= {c.DELIVERY_RETRY_MIN}" if high is None else f"{c.DELIVERY_RETRY_MIN}..{high}"
        return f"retry {value!r} must be an integer {bound}"
    return None


def rabbitmq_parallelism_error(value: int | None, text: object) -> str | None:
    """rabbitmq.eventing.knative.dev/parallelism is an integer 1..1000."""
    if value is None or not c.RABBITMQ_PARALLELISM_MIN <= value <= c.RABBITMQ_PARALLELISM_MAX:
        return (
            f"parallelism {text!r} must be an integer {c.RABBITMQ_PARALLELISM_MIN}.."
            f"{c.RABBITMQ_PARALLELISM_MAX}"
        )
    return None


def request_above_limit_errors(
    requests: Mapping[str, Any], limits: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    """(resource, message) for each of cpu and memory whose request exceeds its limit.

    Values that are not quantities are skipped here: ``quantity_errors`` reports them.
    """
    for resource in ("cpu", "memory"):
        try:
            request: Decimal = parse_quantity(requests.get(resource))
            limit: Decimal = parse_quantity(limits.get(resource))
        except ValueError:
            continue
        if request > limit:
            yield (
                resource,
                f"{resource} request ({requests.get(resource)}) must not be above its limit "
                f"({limits.get(resource)})",
            )


def quantity_errors(
    requests: Mapping[str, Any], limits: Mapping[str, Any]
) -> Iterator[tuple[str, str, str]]:
    """(part, resource, message) for each cpu/memory request or limit that is not a quantity."""
    for part, values in (("requests", requests), ("limits", limits)):
        for resource in ("cpu", "memory"):
            value = values.get(resource)
            try:
                parse_quantity(value)
            except ValueError:
                yield part, resource, f"{part}.{resource} must be set to a quantity, not {value!r}"
