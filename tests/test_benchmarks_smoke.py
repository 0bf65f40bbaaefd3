"""The benchmark's targets stay wired: every peer app serves events, ours refuses a missing id.

The benchmark itself (benchmarks/run.py) is not part of the suite; this runs only its
correctness probes, the step every target must pass before it is loaded, so a broken
peer app or a changed import is caught here rather than at benchmark time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import instructions
from benchmarks.targets import (
    MODES,
    Server,
    Target,
    event_type_of,
    our_target,
    peer_targets,
    probe,
    probe_verdict,
    stage_targets,
)

pytestmark = pytest.mark.slow

# What the probes found when the peers were pinned: a peer that starts refusing a missing
# id (or stops accepting one) changes the benchmark's findings column, so it must show here.
EXPECTED_PEER_FINDINGS = {
    "func-python": ["accepts binary without id (202)", "accepts structured without id (202)"],
    "FastAPI + CloudEvents SDK": [
        "accepts binary without id (202)",
        "accepts structured without id (202)",
    ],
    "fastapi-cloudevents": ["accepts structured without id (202)"],
    "raw ASGI (no parsing)": [
        "accepts binary without id (202)",
        "accepts structured without id (202)",
    ],
    "func-python as shipped (hypercorn)": [
        "accepts binary without id (202)",
        "accepts structured without id (202)",
    ],
}


def _probe(target: Target, event_type: str) -> dict[str, int]:
    with Server(target, cpu=None) as server:
        server.wait_accepting(event_type)
        return probe(server.port, event_type)


@pytest.mark.parametrize("target", peer_targets(), ids=lambda t: t.name)
def test_peer_accepts_valid_events(target: Target):
    """Each peer app answers 2xx to a valid binary and structured event."""
    statuses = _probe(target, event_type_of(None))
    accepts, findings = probe_verdict(statuses)
    assert accepts, statuses
    assert findings == EXPECTED_PEER_FINDINGS[target.name], statuses


def test_ours_accepts_valid_and_refuses_missing_id(default_render: Path):
    """The rendered service accepts valid events and answers 4xx when ``id`` is missing."""
    statuses = _probe(our_target(default_render), event_type_of(default_render))
    accepts, findings = probe_verdict(statuses)
    assert accepts, statuses
    assert findings == [], statuses
    assert statuses["binary without id"] == 400
    assert statuses["structured without id"] == 400


def test_stage_variants_stop_where_they_say(default_render: Path):
    """The CPU breakdown's variants of ours: read only accepts anything, read + parse checks.

    The read-only variant never parses, so it accepts an event without ``id``; the parse
    variant refuses it like the full service (400) but dispatches nothing.
    """
    read_only, parsed = stage_targets(default_render)
    event_type = event_type_of(default_render)
    read_statuses = _probe(read_only, event_type)
    assert set(read_statuses.values()) == {202}, read_statuses
    parsed_statuses = _probe(parsed, event_type)
    assert parsed_statuses["valid binary"] == parsed_statuses["valid structured"] == 202
    assert parsed_statuses["binary without id"] == 400, parsed_statuses
    assert parsed_statuses["structured without id"] == 400, parsed_statuses


@pytest.mark.parametrize("mode", MODES)
def test_in_process_driver_serves_every_app_and_fails_on_a_refusal(
    default_render: Path, mode: str, tmp_path: Path
):
    """``peers/drive.py`` (the instruction count's driver) gets 2xx from each app, or fails.

    Without valgrind: this proves the driver runs lifespan and requests the way the count
    needs, and that it stops with an error when an app refuses the request, so a count can
    never be taken over refusals.
    """
    event_type = event_type_of(default_render)
    request = instructions.request_file(mode, event_type)
    for target in instructions.in_process_targets(default_render):
        done = instructions.drive(target, request, 20)
        assert done.returncode == 0, (target.name, done.stderr[-1000:])
    document = json.loads(request.read_text())
    document["headers"] = [pair for pair in document["headers"] if pair[0] != "ce-id"]
    if mode == "structured":
        body = json.loads(document["body"])
        del body["id"]
        document["body"] = json.dumps(body)
        document["headers"] = [
            [name, str(len(document["body"])) if name == "content-length" else value]
            for name, value in document["headers"]
        ]
    missing_id = tmp_path / "missing-id.json"
    missing_id.write_text(json.dumps(document))
    done = instructions.drive(our_target(default_render), missing_id, 5)
    assert done.returncode != 0
    assert "2xx" in done.stderr
