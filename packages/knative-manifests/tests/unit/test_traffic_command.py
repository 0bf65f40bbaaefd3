"""The `traffic` command on a copy of the fixture service's overlays.

Its prod overlay has the canary layout (pinned ``order-events-v1``, stable/canary/latest
targets) and its pyproject.toml sets ``canary-percent = 15``; dev and staging have no
canary layout and show the error for that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from service_tree import copy_service

from knative_manifests import constants as c
from knative_manifests import overlays, traffic
from knative_manifests.cli import main
from knative_manifests.manifest import traffic_from_manifest

ENV = "prod"
DIGEST = "sha256:" + "ab" * 32


def digest(number: int) -> str:
    """A well-formed digest, different for each number."""
    return f"sha256:{number:064x}"


D1, D2, D3, D9 = digest(1), digest(2), digest(3), digest(9)
CONFIGURED_PERCENT = 15  # canary-percent in the fixture's pyproject.toml


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the fixture service (its prod overlay has the canary layout)."""
    return copy_service(tmp_path / "service")


def overlay_files(root: Path, env: str = ENV) -> dict[str, bytes]:
    directory = root / traffic.OVERLAYS / env
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def read_patch(root: Path) -> dict[str, Any]:
    path = root / traffic.OVERLAYS / ENV / traffic.SERVICE_PATCH
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def image_entry(root: Path) -> dict[str, Any]:
    path = root / traffic.OVERLAYS / ENV / traffic.KUSTOMIZATION
    (entry,) = yaml.safe_load(path.read_text(encoding="utf-8"))["images"]
    return dict(entry)


def run(root: Path, *args: str) -> int:
    return main(["traffic", *args, "--env", ENV, "--root", str(root)])


def split(root: Path) -> dict[str, tuple[str | None, int]]:
    return {
        t["tag"]: (t.get("revisionName"), t["percent"]) for t in read_patch(root)["spec"]["traffic"]
    }


def test_status_reads_the_layout_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = overlay_files(root)

    assert run(root, "status") == 0

    assert overlay_files(root) == before
    out = capsys.readouterr().out
    assert "phase: steady" in out
    assert "-v1" in out


def test_start_pins_a_new_revision_with_the_new_image(root: Path) -> None:
    service = read_patch(root)["metadata"]["name"]
    kustomization = root / traffic.OVERLAYS / ENV / traffic.KUSTOMIZATION
    comments = [line for line in kustomization.read_text().splitlines() if line.startswith("#")]

    assert run(root, "start", "--image", D1, "--percent", "20") == 0

    patch = read_patch(root)
    assert patch["spec"]["template"]["metadata"]["name"] == f"{service}-v2"
    assert split(root) == {
        "stable": (f"{service}-v1", 80),
        "canary": (f"{service}-v2", 20),
        "latest": (None, 0),
    }
    assert image_entry(root) == {
        "name": "ghcr.io/acme/order-events",
        "newName": "ghcr.io/acme/order-events",
        "digest": D1,
    }
    after = [line for line in kustomization.read_text().splitlines() if line.startswith("#")]
    assert after == comments  # only the images block was rewritten


def test_start_takes_a_full_reference_with_a_digest(root: Path) -> None:
    assert run(root, "start", "--image", f"registry.example.com/team/app@{DIGEST}") == 0

    entry = image_entry(root)
    assert entry["newName"] == "registry.example.com/team/app"
    assert entry["digest"] == DIGEST
    assert "newTag" not in entry
    assert split(root)["canary"][1] == CONFIGURED_PERCENT


def test_start_takes_a_bare_digest_for_the_services_repository(root: Path) -> None:
    before = image_entry(root)
    assert run(root, "start", "--image", D2) == 0

    entry = image_entry(root)
    assert entry == {"name": before["name"], "newName": before["newName"], "digest": D2}
    assert traffic.Overlay.load(root, ENV).state().image.reference() == (
        f"{before['newName']}@{D2}"
    )


def test_start_with_the_digest_running_already_is_refused(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = image_entry(root)["digest"]
    before = overlay_files(root)
    assert run(root, "start", "--image", running) == 1
    assert "runs already" in capsys.readouterr().out
    assert overlay_files(root) == before


@pytest.mark.parametrize("env", ["../../x", "..", "prod/../dev", "Prod", "-prod", "prod-", ""])
def test_an_env_that_is_no_plain_overlay_name_is_a_usage_error(
    root: Path, capsys: pytest.CaptureFixture[str], env: str
) -> None:
    before = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    with pytest.raises(SystemExit) as exit_info:
        main(["traffic", "status", f"--env={env}", "--root", str(root)])
    assert exit_info.value.code == 2
    assert "is not an environment name" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in root.rglob("*.yaml")} == before


def test_an_overlay_symlinked_out_of_the_overlays_is_refused(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / traffic.OVERLAYS / "elsewhere").symlink_to(outside, target_is_directory=True)
    assert main(["traffic", "status", "--env", "elsewhere", "--root", str(root)]) == 2
    assert "is not a directory of" in capsys.readouterr().out
    with pytest.raises(overlays.EnvNameError):
        traffic.apply(root, "../dev", "status")


def test_shift_then_promote(root: Path) -> None:
    service = read_patch(root)["metadata"]["name"]
    assert run(root, "start", "--image", D2) == 0
    assert run(root, "shift", "--percent", "60") == 0
    assert split(root)["canary"] == (f"{service}-v2", 60)
    assert split(root)["stable"] == (f"{service}-v1", 40)

    assert run(root, "promote") == 0

    assert split(root) == {
        "stable": (f"{service}-v2", 100),
        "canary": (f"{service}-v2", 0),
        "latest": (None, 0),
    }
    assert read_patch(root)["spec"]["template"]["metadata"]["name"] == f"{service}-v2"


def test_rollback_moves_traffic_only_and_the_next_start_bumps_past_it(root: Path) -> None:
    service = read_patch(root)["metadata"]["name"]
    assert run(root, "start", "--image", D2) == 0
    template_before = read_patch(root)["spec"]["template"]
    image_before = image_entry(root)

    assert run(root, "rollback") == 0

    assert split(root)["stable"] == (f"{service}-v1", 100)
    assert split(root)["canary"] == (f"{service}-v2", 0)
    # No template change, so no new revision name is needed: Knative accepts this as is.
    assert read_patch(root)["spec"]["template"] == template_before
    assert image_entry(root) == image_before

    assert run(root, "start", "--image", D3) == 0
    assert read_patch(root)["spec"]["template"]["metadata"]["name"] == f"{service}-v3"
    assert split(root)["stable"][0] == f"{service}-v1"


def break_names(root: Path) -> None:
    path = root / traffic.OVERLAYS / ENV / traffic.SERVICE_PATCH
    patch = read_patch(root)
    patch["spec"]["traffic"][0]["revisionName"] = "someone-else-v1"
    path.write_text(yaml.safe_dump(patch, sort_keys=False), encoding="utf-8")


def foreign_revision(root: Path) -> None:
    """Stable pinned to a revision of Service '<service>-api', whose name shares the prefix."""
    path = root / traffic.OVERLAYS / ENV / traffic.SERVICE_PATCH
    patch = read_patch(root)
    service = patch["metadata"]["name"]
    patch["spec"]["traffic"][0]["revisionName"] = f"{service}-api-v1"
    path.write_text(yaml.safe_dump(patch, sort_keys=False), encoding="utf-8")


def break_sum(root: Path) -> None:
    path = root / traffic.OVERLAYS / ENV / traffic.SERVICE_PATCH
    patch = read_patch(root)
    patch["spec"]["traffic"][0]["percent"] = 95
    path.write_text(yaml.safe_dump(patch, sort_keys=False), encoding="utf-8")


def start_canary(root: Path) -> None:
    assert run(root, "start", "--image", D9) == 0


def nothing(root: Path) -> None:
    pass


@pytest.mark.parametrize(
    ("prepare", "args", "message"),
    [
        (nothing, ["start"], "start needs --image"),
        (nothing, ["start", "--image", "Not A Tag!"], "must name a digest"),
        (nothing, ["start", "--image", "registry.example.com/app"], "must name a digest"),
        (nothing, ["start", "--image", "1.2.0"], "must name a digest"),
        (nothing, ["start", "--image", "registry.example.com/app:1.2.0"], "must name a digest"),
        (nothing, ["start", "--image", "sha256:" + "AB" * 32], "must name a digest"),
        (nothing, ["start", "--image", "sha256:" + "ab" * 31], "must name a digest"),
        (nothing, ["start", "--image", D1, "--percent", "100"], "traffic/percent-range"),
        (nothing, ["start", "--image", D1, "--percent", "0"], "traffic/percent-range"),
        (nothing, ["shift", "--percent", "30"], "no canary to shift"),
        (nothing, ["promote"], "no canary to promote"),
        (nothing, ["rollback"], "no canary to roll back"),
        (nothing, ["promote", "--image", D1], "takes no --image"),
        (start_canary, ["start", "--image", D1], "a canary is running already"),
        (start_canary, ["shift"], "shift needs --percent"),
        (start_canary, ["shift", "--percent", "100"], "traffic/percent-range"),
        (break_names, ["status"], "serving/revision-name"),
        (foreign_revision, ["shift", "--percent", "5"], "serving/revision-not-owned"),
        (foreign_revision, ["status"], "RevisionNotOwned"),
        (break_sum, ["shift", "--percent", "5"], "traffic/percent-sum"),
    ],
)
def test_refusals_name_the_problem_and_write_nothing(
    root: Path,
    capsys: pytest.CaptureFixture[str],
    prepare: Callable[[Path], None],
    args: list[str],
    message: str,
) -> None:
    prepare(root)
    before = overlay_files(root)

    assert run(root, *args) == 1

    out = capsys.readouterr().out
    assert message in out
    assert "nothing written" in out
    assert overlay_files(root) == before


def test_an_overlay_without_the_canary_layout_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = copy_service(tmp_path / "service")
    for env in ("dev", "staging"):
        before = overlay_files(service, env)
        code = main(["traffic", "start", "--image", D1, "--env", env, "--root", str(service)])
        assert code == 1
        assert "has no canary layout" in capsys.readouterr().out
        assert overlay_files(service, env) == before
    assert main(["traffic", "status", "--env", "nowhere", "--root", str(service)]) == 1
    assert "no overlay for environment 'nowhere'" in capsys.readouterr().out


def test_a_failed_rename_puts_the_first_file_back(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = overlay_files(root)
    real_replace = os.replace
    calls: list[str] = []

    def flaky_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)

    with pytest.raises(OSError, match="disk full"):
        traffic.apply(root, ENV, "start", image=D3)

    assert len(calls) == 2
    assert overlay_files(root) == before  # also: no temporary files left behind


actions = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(min_value=-5, max_value=105)),
        st.tuples(st.just("shift"), st.integers(min_value=-5, max_value=105)),
        st.tuples(st.just("promote"), st.just(0)),
        st.tuples(st.just("rollback"), st.just(0)),
    ),
    max_size=8,
)


@pytest.fixture(scope="module")
def module_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_service(tmp_path_factory.mktemp("traffic") / "service")


@settings(max_examples=100, deadline=None)
@given(steps=actions)
def test_any_command_sequence_renders_a_split_knative_accepts(
    module_root: Path, steps: list[tuple[str, int]]
) -> None:
    """**Feature: knative-serverless-support, Property 3: Traffic Configuration Generation**

    Whatever sequence of commands runs, every state that would be written sums to 100 with
    pinned, valid revision names, and the rendered patch says exactly that split.
    """
    overlay = traffic.Overlay.load(module_root, ENV)
    state = overlay.state()
    for number, (action, percent) in enumerate(steps):
        try:
            if action == "start":
                after = traffic.start(state, digest(100 + number), percent)
            elif action == "shift":
                after = traffic.shift(state, percent)
            elif action == "promote":
                after = traffic.promote(state)
            else:
                after = traffic.rollback(state)
            traffic.check_transition(state, after)
        except traffic.TrafficCommandError:
            continue  # refused: nothing would be written
        files = traffic.render(overlay, after)
        patch = yaml.safe_load(files[overlay.directory / traffic.SERVICE_PATCH])
        assert traffic_from_manifest(patch["spec"]["traffic"]) == after.traffic()
        assert after.traffic().validate()
        assert patch["spec"]["template"]["metadata"]["name"] == after.template_revision
        assert after.stable_percent + after.canary_percent == c.TRAFFIC_TOTAL_PERCENT
        if action == "start":
            assert c.CANARY_PERCENT_MIN <= percent <= c.CANARY_PERCENT_MAX
        state = after


# --- Where the default percent and the root come from -----------------------------------------
def write_tool_table(root: Path, table: str) -> None:
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    head = text.split("[tool.knative-manifests]")[0]
    pyproject.write_text(head + table, encoding="utf-8")


def test_start_without_any_percent_is_refused_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tool_table(
        root, '[tool.knative-manifests]\nregistry = "order_events.handlers:registry"\n'
    )
    before = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    assert run(root, "start", "--image", D2) == 1
    assert "traffic/percent-required" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in root.rglob("*.yaml")} == before
    assert run(root, "start", "--image", D2, "--percent", "5") == 0
    assert split(root)["canary"][1] == 5


def test_percent_on_the_command_line_wins_over_the_configuration(root: Path) -> None:
    assert run(root, "start", "--image", D2, "--percent", "3") == 0
    assert split(root)["canary"][1] == 3


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[tool.knative-manifests]\ncanary-percent = 100\n", "canary-percent must be an integer"),
        ('[tool.knative-manifests]\ncanary-percent = "10"\n', "canary-percent must be an"),
        ("[tool.knative-manifests]\ncanary_percent = 10\n", "unknown key(s) canary_percent"),
    ],
)
def test_a_bad_configuration_is_a_usage_error_naming_key_and_file(
    root: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    write_tool_table(root, table)
    before = overlay_files(root)

    assert run(root, "start", "--image", D2) == 2

    out = capsys.readouterr().out
    assert message in out
    assert str(root / "pyproject.toml") in out
    assert overlay_files(root) == before


def test_the_root_defaults_to_the_nearest_pyproject_upward(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root / traffic.OVERLAYS / ENV / "patches")
    assert main(["traffic", "start", "--image", D2, "--env", ENV]) == 0
    assert split(root)["canary"] == ("order-events-v2", CONFIGURED_PERCENT)
    assert "knative-manifests validate --env prod" in capsys.readouterr().out
