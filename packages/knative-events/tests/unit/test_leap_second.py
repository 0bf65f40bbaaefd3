"""Trust no sender, refuse no valid event: RFC 3339 allows second 60 (a leap second).

``datetime`` cannot hold it, so it becomes 23:59:59.999999 at the sender's offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from knative_events import CloudEvent, HandlerRegistry, create_app
from knative_events.cloudevents.errors import CloudEventValidationError
from knative_events.cloudevents.models import format_time, parse_time
from knative_events.settings import Settings
from knative_events.testing import EventClient

LAST = datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-12-31T23:59:60Z", LAST),
        ("2016-12-31t23:59:60z", LAST),
        ("2016-12-31T23:59:60.5Z", LAST),
        ("2016-12-31T23:59:60.123456789+00:00", LAST),
        ("2015-06-30T23:59:60Z", datetime(2015, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC)),
        # RFC 3339 5.8's own example: the same leap second at an offset, which is kept
        (
            "1990-12-31T15:59:60-08:00",
            datetime(1990, 12, 31, 15, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-8))),
        ),
    ],
)
def test_a_leap_second_is_the_last_microsecond_of_its_minute(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()
    assert parse_time(text.replace(":60", ":59")) < parsed < expected + timedelta(microseconds=1)


@pytest.mark.parametrize(
    "text",
    [
        "2016-12-31T12:00:60Z",  # not the last minute of a UTC day
        "2016-12-31T23:59:60+01:00",  # 22:59:60 UTC
        "2016-12-31T23:59:61Z",
        "2016-12-31T23:60:60Z",
        "2016-02-30T23:59:60Z",
        "9999-12-31T23:59:60-01:00",  # past the end of the calendar in UTC
    ],
)
def test_other_seconds_past_59_are_refused(text: str) -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        parse_time(text)
    assert caught.value.attribute == "time"


def test_a_leap_second_is_written_back_as_the_clamped_time() -> None:
    event = CloudEvent(id="1", source="/s", type="t", time="2016-12-31T23:59:60Z")
    assert format_time(event.time or LAST) == "2016-12-31T23:59:59.999999Z"


async def test_the_endpoint_accepts_a_leap_second_in_both_modes() -> None:
    registry = HandlerRegistry()
    received: list[CloudEvent] = []

    @registry.on("t")
    async def record(event: CloudEvent, data: object) -> None:
        received.append(event)

    headers = {
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "/s",
        "ce-type": "t",
        "ce-time": "2016-12-31T23:59:60Z",
    }
    structured = {k[3:]: v for k, v in headers.items()}
    app = create_app(Settings(environ={}, log_level="WARNING"), registry=registry)
    async with EventClient(app) as client:
        assert (await client.post(b"", headers)).status == 202
        result = await client.post(
            orjson.dumps(structured), {"content-type": "application/cloudevents+json"}
        )
        assert result.status == 202
        bad = await client.post(b"", {**headers, "ce-time": "2016-12-31T10:59:60Z"})
        assert bad.status == 400
        assert bad.problem is not None
        assert bad.problem["attribute"] == "time"
    assert [event.time for event in received] == [LAST, LAST]
