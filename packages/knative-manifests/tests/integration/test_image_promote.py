"""`image set` and `promote` on copies of the fixture service, and what validate says.

The fixture's dev and staging overlays name the same digest, prod an older one; prod has
the canary layout (a pinned revision name), so it takes a new digest only via `traffic`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from service_tree import SERVICE_ROOT, copy_service

from knative_manifests import overlays, promote
from knative_manifests.cli import main
from knative_manifests.validate import validate_tree

NEW = "sha256:" + "c0" * 32
REPOSITORY = "ghcr.io/acme/order-events"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_service(tmp_path / "service")


def kustomization_path(root: Path, env: str) -> Path:
    return root / overlays.OVERLAYS / env / overlays.KUSTOMIZATION


def images(root: Path, env: str) -> list[dict[str, Any]]:
    loaded = yaml.safe_load(kustomization_path(root, env).read_text(encoding="utf-8"))
    return list(loaded["images"])


def snapshot(root: Path) -> dict[Path, bytes]:
    """Every file of the service (a refusal must leave all of them, and no temp file)."""
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def set_entry(root: Path, env: str, **entry: str) -> None:
    """Give ``env``'s images entry exactly ``entry`` besides its name (old shapes, say)."""
    path = kustomization_path(root, env)
    text = path.read_text(encoding="utf-8")
    value = [{"name": REPOSITORY, **entry}]
    path.write_text(overlays.replace_block(text, "images", value), encoding="utf-8")


# --- image set --------------------------------------------------------------------------------
def test_image_set_writes_the_digest_and_prints_summary_and_diff(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_entry(root, "dev", newName=REPOSITORY, newTag="0.1.0")  # what renders used to pin
    path = kustomization_path(root, "dev")
    before = path.read_text(encoding="utf-8")

    assert main(["image", "set", "--env", "dev", "--digest", NEW, "--root", str(root)]) == 0

    assert images(root, "dev") == [{"name": REPOSITORY, "newName": REPOSITORY, "digest": NEW}]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"dev: image {REPOSITORY}@{NEW} (was {REPOSITORY}:0.1.0)"
    assert lines[1] == "--- a/deployments/knative/overlays/dev/kustomization.yaml"
    assert lines[2] == "+++ b/deployments/knative/overlays/dev/kustomization.yaml"
    assert '-    newTag: "0.1.0"' in lines or "-    newTag: 0.1.0" in lines
    assert f"+    digest: {NEW}" in lines
    after = path.read_text(encoding="utf-8")
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert [line for line in after.splitlines() if line.startswith("#")] == comments
    assert validate_tree(root, envs=["dev"]).ok


def test_image_set_on_an_entry_without_tag_or_digest(root: Path) -> None:
    set_entry(root, "staging", newName=REPOSITORY)  # a fresh render before its first CI run
    assert validate_tree(root, envs=["staging"]).warnings
    assert main(["image", "set", "--env", "staging", "--digest", NEW, "--root", str(root)]) == 0
    assert images(root, "staging") == [{"name": REPOSITORY, "newName": REPOSITORY, "digest": NEW}]
    report = validate_tree(root, envs=["staging"])
    assert report.ok
    assert report.warnings == []


def test_image_set_with_the_same_digest_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (entry,) = images(root, "dev")
    before = snapshot(root)
    code = main(["image", "set", "--env", "dev", "--digest", entry["digest"], "--root", str(root)])
    assert code == 0
    assert "already; nothing to change" in capsys.readouterr().out
    assert snapshot(root) == before


def test_image_set_finds_the_services_entry_among_several(root: Path) -> None:
    other = {"name": "docker.io/library/busybox", "newTag": "1.36"}
    path = kustomization_path(root, "dev")
    text = path.read_text(encoding="utf-8")
    (entry,) = images(root, "dev")
    path.write_text(overlays.replace_block(text, "images", [other, entry]), encoding="utf-8")

    assert main(["image", "set", "--env", "dev", "--digest", NEW, "--root", str(root)]) == 0

    assert images(root, "dev") == [other, {**entry, "digest": NEW}]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--env", "prod", "--digest", NEW], 1, "traffic start --env prod --image " + NEW),
        (["--env", "nowhere", "--digest", NEW], 1, "no overlay for environment 'nowhere'"),
    ],
)
def test_image_set_refusals_write_nothing(
    root: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    before = snapshot(root)
    assert main(["image", "set", *args, "--root", str(root)]) == code
    out = capsys.readouterr().out
    assert message in out
    assert "nothing written" in out
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "../../x", "--digest", NEW], "is not an environment name"),
        (["--env", "dev/..", "--digest", NEW], "is not an environment name"),
        (["--env", "dev", "--digest", "sha256:" + "C0" * 32], "is not a digest"),
        (["--env", "dev", "--digest", "sha256:" + "c0" * 31], "is not a digest"),
        (["--env", "dev", "--digest", "1.4.0"], "is not a digest"),
        (["--env", "dev", "--digest", f"{REPOSITORY}@{NEW}"], "is not a digest"),
    ],
)
def test_image_set_usage_errors_exit_2(
    root: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = snapshot(root)
    with pytest.raises(SystemExit) as exit_info:
        main(["image", "set", *args, "--root", str(root)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert snapshot(root) == before


def test_image_set_without_a_digest_exits_2_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    assert main(["image", "set", "--env", "dev", "--root", str(root)]) == 2
    assert "--digest" in capsys.readouterr().out
    assert snapshot(root) == before


# --- image get --------------------------------------------------------------------------------
def test_image_get_prints_the_reference_an_overlay_deploys(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (entry,) = images(root, "staging")
    assert main(["image", "get", "--env", "staging", "--root", str(root)]) == 0
    assert capsys.readouterr().out == f"{REPOSITORY}@{entry['digest']}\n"


def test_image_get_refuses_an_overlay_without_digest(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_entry(root, "dev", newName=REPOSITORY, newTag="0.1.0")
    assert main(["image", "get", "--env", "dev", "--root", str(root)]) == 1
    assert "names no digest" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["image", "get", "--env", "../x", "--root", str(root)])
    assert exit_info.value.code == 2


# --- promote ----------------------------------------------------------------------------------
def test_promote_copies_the_digest_and_validates(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["image", "set", "--env", "dev", "--digest", NEW, "--root", str(root)]) == 0
    capsys.readouterr()
    (staging_before,) = images(root, "staging")

    assert main(["promote", "--from", "dev", "--to", "staging", "--root", str(root)]) == 0

    assert images(root, "staging") == [{**staging_before, "digest": NEW}]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"promote dev -> staging: {REPOSITORY}@{NEW} (was {REPOSITORY}@{staging_before['digest']})"
    )
    assert lines[1] == "--- a/deployments/knative/overlays/staging/kustomization.yaml"
    assert f"+    digest: {NEW}" in lines
    assert lines[-1] == "staging: 8 documents in 1 environments: ok"


def test_promote_removes_a_tag_and_keeps_the_target_repository(root: Path) -> None:
    set_entry(root, "staging", newName="registry.example.com/mirror/order-events", newTag="0.1")
    (dev,) = images(root, "dev")

    assert main(["promote", "--from", "dev", "--to", "staging", "--root", str(root)]) == 0

    assert images(root, "staging") == [
        {
            "name": REPOSITORY,
            "newName": "registry.example.com/mirror/order-events",
            "digest": dev["digest"],
        }
    ]


def test_promote_dry_run_prints_the_diff_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_entry(root, "dev", newName=REPOSITORY, digest=NEW)
    before = snapshot(root)
    args = ["promote", "--from", "dev", "--to", "staging", "--dry-run", "--root", str(root)]

    assert main(args) == 0

    out = capsys.readouterr().out
    assert "(dry run: nothing written)" in out
    assert f"+    digest: {NEW}" in out
    assert snapshot(root) == before


def test_promote_of_the_same_digest_changes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    assert main(["promote", "--from", "dev", "--to", "staging", "--root", str(root)]) == 0
    assert "already; nothing to change" in capsys.readouterr().out
    assert snapshot(root) == before


def tagged_dev(root: Path) -> None:
    set_entry(root, "dev", newName=REPOSITORY, newTag="1.4.0")


def bare_dev(root: Path) -> None:
    set_entry(root, "dev", newName=REPOSITORY)


def nothing(root: Path) -> None:
    pass


@pytest.mark.parametrize(
    ("prepare", "envs", "message"),
    [
        (tagged_dev, ("dev", "staging"), "the dev overlay names no digest"),
        (bare_dev, ("dev", "staging"), "the dev overlay names no digest"),
        (nothing, ("nowhere", "staging"), "no overlay for environment 'nowhere'"),
        (nothing, ("dev", "nowhere"), "no overlay for environment 'nowhere'"),
        (nothing, ("dev", "dev"), "name the same environment"),
        (nothing, ("staging", "prod"), "pins revision 'order-events-v1' (canary layout)"),
    ],
)
def test_promote_refusals_name_the_problem_and_write_nothing(
    root: Path,
    capsys: pytest.CaptureFixture[str],
    prepare: Any,
    envs: tuple[str, str],
    message: str,
) -> None:
    prepare(root)
    before = snapshot(root)

    assert main(["promote", "--from", envs[0], "--to", envs[1], "--root", str(root)]) == 1

    out = capsys.readouterr().out
    assert message in out
    assert "nothing written" in out
    assert snapshot(root) == before


def test_promote_to_a_pinned_overlay_names_the_traffic_command(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dev,) = images(root, "dev")
    assert main(["promote", "--from", "dev", "--to", "prod", "--root", str(root)]) == 1
    assert f"knative-manifests traffic start --env prod --image {dev['digest']}" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "dev", "--to=../../x"],
        ["--from=../dev", "--to", "staging"],
        ["--from", "dev", "--to", "Staging"],
        ["--from", "dev", "--to", "/etc"],
    ],
)
def test_promote_names_that_are_no_overlay_names_exit_2(
    root: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    before = snapshot(root)
    with pytest.raises(SystemExit) as exit_info:
        main(["promote", *args, "--root", str(root)])
    assert exit_info.value.code == 2
    assert "is not an environment name" in capsys.readouterr().err
    assert snapshot(root) == before


def test_promote_through_a_symlink_out_of_the_overlays_exits_2(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / overlays.OVERLAYS / "elsewhere").symlink_to(outside, target_is_directory=True)
    before = snapshot(root)
    assert main(["promote", "--from", "dev", "--to", "elsewhere", "--root", str(root)]) == 2
    assert "is not a directory of" in capsys.readouterr().out
    assert snapshot(root) == before


def test_a_promotion_that_fails_validation_is_undone(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_entry(root, "dev", newName=REPOSITORY, digest=NEW)
    patch = root / overlays.OVERLAYS / "staging" / overlays.SERVICE_PATCH
    document = yaml.safe_load(patch.read_text(encoding="utf-8"))
    document["spec"]["template"].setdefault("spec", {})["timeoutSeconds"] = 900
    patch.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    before = snapshot(root)

    assert main(["promote", "--from", "dev", "--to", "staging", "--root", str(root)]) == 1

    out = capsys.readouterr().out
    assert "does not validate" in out
    assert "restored" in out
    assert "[serving/timeout-range]" in out
    assert snapshot(root) == before


def test_a_promotion_whose_check_crashes_is_undone(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_entry(root, "dev", newName=REPOSITORY, digest=NEW)
    before = snapshot(root)
    written: list[str] = []

    def crash(root: Path, *args: object, **kwargs: object) -> object:
        written.append(kustomization_path(root, "staging").read_text(encoding="utf-8"))
        raise RuntimeError("kustomize exploded")

    monkeypatch.setattr(promote, "validate_tree", crash)
    with pytest.raises(RuntimeError, match="kustomize exploded"):
        promote.run_promotion(root, "dev", "staging")
    assert NEW in written[0]  # it was written, checked, and put back
    assert snapshot(root) == before


# --- validate: the digest rule and the warning, end to end -------------------------------------
def test_validate_fails_a_tag_and_warns_about_no_tag(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tagged_dev(root)
    set_entry(root, "staging", newName=REPOSITORY)

    assert main(["validate", "--root", str(root), "--env", "dev"]) == 1
    out = capsys.readouterr().out
    assert "dev: Service/order-events: [images/digest-required]" in out
    assert "tags move" in out

    assert main(["validate", "--root", str(root), "--env", "staging"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: staging: Service/order-events: [images/not-promoted]" in out
    assert "make promote ENV=" in out
    assert out.rstrip().endswith("ok, 1 warning(s)")


def test_validate_refuses_an_env_that_is_no_overlay_name(
    root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--root", str(root), "--env", "../../x"])
    assert exit_info.value.code == 2
    assert "is not an environment name" in capsys.readouterr().err
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / overlays.OVERLAYS / "elsewhere").symlink_to(outside, target_is_directory=True)
    assert main(["validate", "--root", str(root), "--env", "elsewhere"]) == 2
    assert "is not a directory of" in capsys.readouterr().out


def test_the_fixture_overlays_name_digests() -> None:
    for env in ("dev", "staging", "prod"):
        (entry,) = images(SERVICE_ROOT, env)
        assert overlays.is_digest(entry["digest"])
        assert "newTag" not in entry
