"""Trust no sender: hostile YAML and a stuck kustomize stop the tools quickly, writing nothing.

A "billion laughs" document (nine lines of nested aliases standing for 9^9 strings)
appended to an overlay patch must be refused by ``validate`` before kustomize sees it, and
by ``traffic``, ``image set`` and ``promote`` before they write; so must a file over the
size cap. A kustomize that hangs is stopped by the timeout and reported.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from service_tree import SERVICE_ROOT, copy_service

from knative_manifests import constants as c
from knative_manifests import promote, traffic, validate
from knative_manifests.cli import main
from knative_manifests.validate import validate_tree

OVERLAYS = Path("deployments/knative/overlays")
NEW = "sha256:" + "c0" * 32
BOMB = "---\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9 if previous else ['lol'] * 9)}]\n"
    for previous, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
REFUSED = "YAML anchors and aliases are refused"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_service(tmp_path / "service")


def snapshot(root: Path) -> dict[Path, bytes]:
    """Every file of the service (a refusal must leave all of them, and no temp file)."""
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def append_bomb(root: Path, env: str, patch: str = "service-patch.yaml") -> Path:
    path = root / OVERLAYS / env / "patches" / patch
    with path.open("a", encoding="utf-8") as stream:
        stream.write(BOMB)
    return path


def no_kustomize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any kustomize run fail the test: a refused input must never reach it."""

    def run(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"kustomize ran: {args}")

    monkeypatch.setattr(validate.subprocess, "run", run)


def test_the_bomb_is_what_it_claims() -> None:
    assert BOMB.count("*") == 8 * 9
    assert BOMB.splitlines()[-1].startswith("i: &i [*h, *h")


# --- validate ----------------------------------------------------------------------------------
def test_validate_refuses_an_alias_bomb_in_a_patch_quickly(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = append_bomb(root, "prod")
    no_kustomize(monkeypatch)
    started = time.perf_counter()
    status = main(["validate", "--root", str(root), "--env", "prod"])
    seconds = time.perf_counter() - started
    out = capsys.readouterr().out
    print(f"validate refused the alias bomb in {seconds:.3f} s")
    assert status == 1
    assert seconds < 10
    assert f"[yaml/refused] {path}: line" in out
    assert REFUSED in out
    assert out.rstrip().endswith("1 violation(s)")


def test_validate_reports_every_refused_environment(root: Path) -> None:
    append_bomb(root, "dev", "resources-patch.yaml")
    append_bomb(root, "staging", "settings-patch.yaml")
    report = validate_tree(root)
    refused = [(v.env, v.rule) for v in report.violations]
    assert refused == [("dev", "yaml/refused"), ("staging", "yaml/refused")]
    assert "prod" in report.environments  # the clean overlay is still checked, and passes


def test_the_fixture_still_validates_clean() -> None:
    report = validate_tree(SERVICE_ROOT)
    assert report.ok, "\n".join(map(str, report.violations))


def test_validate_refuses_an_oversized_file(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = root / OVERLAYS / "dev" / "patches" / "settings-patch.yaml"
    with path.open("a", encoding="utf-8") as stream:
        stream.write(("# padding" + " " * 1014 + "\n") * (c.YAML_MAX_BYTES // 1024 + 1))
    assert path.stat().st_size > c.YAML_MAX_BYTES
    no_kustomize(monkeypatch)
    assert main(["validate", "--root", str(root), "--env", "dev"]) == 1
    out = capsys.readouterr().out
    assert f"[yaml/refused] {path}: larger than {c.YAML_MAX_BYTES} bytes" in out


def test_validate_refuses_an_alias_in_an_inline_patch(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kustomization = root / OVERLAYS / "dev" / "kustomization.yaml"
    inline = "".join(f"      {line}\n" for line in BOMB.splitlines())
    with kustomization.open("a", encoding="utf-8") as stream:
        stream.write(f"  - patch: |-\n{inline}")
    no_kustomize(monkeypatch)
    report = validate_tree(root, envs=["dev"])
    assert [v.rule for v in report.violations] == ["yaml/refused"]
    assert f"{kustomization}: patches[3].patch: line" in report.violations[0].message


def test_validate_refuses_an_alias_in_the_argocd_files(root: Path) -> None:
    path = root / "deployments/argocd/appproject.yaml"
    with path.open("a", encoding="utf-8") as stream:
        stream.write(BOMB)
    report = validate_tree(root, envs=["argocd"])
    refused = [v for v in report.violations if v.rule == "yaml/refused"]
    assert [(v.env, v.message.split(": line")[0]) for v in refused] == [("argocd", str(path))]
    assert REFUSED in refused[0].message
    # The refused AppProject is not read at all, so the ApplicationSet's project is missing.
    assert {v.rule for v in report.violations} == {"yaml/refused", "argocd/project-exists"}


def test_validate_refuses_an_alias_in_external_references(root: Path) -> None:
    path = root / "deployments/knative/external-references.yaml"
    path.write_text("- &x {apiVersion: v1, kind: Secret, name: s}\n- *x\n", encoding="utf-8")
    report = validate_tree(root, envs=["dev"])
    assert [v.rule for v in report.violations] == ["references/external-file"]
    assert f"{path}: line 1: anchor &x" in report.violations[0].message


# --- the editing commands ----------------------------------------------------------------------
@pytest.mark.parametrize("patch", ["service-patch.yaml", "resources-patch.yaml"])
@pytest.mark.parametrize("action", [["status"], ["start", "--image", NEW, "--percent", "10"]])
def test_traffic_refuses_an_alias_bomb_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str], patch: str, action: list[str]
) -> None:
    path = append_bomb(root, "prod", patch)
    before = snapshot(root)
    started = time.perf_counter()
    assert main(["traffic", *action, "--env", "prod", "--root", str(root)]) == 1
    assert time.perf_counter() - started < 10
    out = capsys.readouterr().out
    assert out.startswith(f"traffic: {path}: line")
    assert REFUSED in out
    assert "nothing written" in out
    assert snapshot(root) == before


def test_traffic_refuses_an_oversized_patch(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "YAML_MAX_BYTES", 100)
    before = snapshot(root)
    with pytest.raises(traffic.TrafficCommandError, match="larger than 100 bytes"):
        traffic.apply(root, "prod", "start", image=NEW, percent=10)
    assert snapshot(root) == before


def dev_with_new_digest(root: Path) -> None:
    kustomization = root / OVERLAYS / "dev" / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    start = text.index("digest: sha256:") + len("digest: ")
    kustomization.write_text(text[:start] + NEW + text[start + 71 :], encoding="utf-8")


@pytest.mark.parametrize("patch", ["service-patch.yaml", "settings-patch.yaml"])
def test_promote_refuses_an_alias_bomb_and_writes_nothing(
    root: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    patch: str,
) -> None:
    dev_with_new_digest(root)
    path = append_bomb(root, "staging", patch)
    before = snapshot(root)
    no_kustomize(monkeypatch)
    assert main(["promote", "--from", "dev", "--to", "staging", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"promote: {path}: line")
    assert REFUSED in out
    assert out.rstrip().endswith("nothing written")
    assert snapshot(root) == before


def test_promote_without_the_bomb_writes(root: Path) -> None:
    """The control for the test above: the same promotion goes through."""
    dev_with_new_digest(root)
    change, _, lines = promote.run_promotion(root, "dev", "staging")
    assert change.changed
    assert lines[-1].endswith(": ok")


def test_image_set_refuses_an_alias_bomb_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = append_bomb(root, "dev")
    before = snapshot(root)
    assert main(["image", "set", "--env", "dev", "--digest", NEW, "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert str(path) in out
    assert REFUSED in out
    assert snapshot(root) == before


# --- a kustomize that hangs --------------------------------------------------------------------
def fake_kubectl(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `kubectl` first on PATH that sleeps far longer than the (tiny) timeout."""
    directory.mkdir()
    script = directory / "kubectl"
    script.write_text("#!/bin/sh\nexec sleep 60\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(c, "KUSTOMIZE_TIMEOUT_SECONDS", 0.5)


def test_a_kustomize_timeout_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_kubectl(tmp_path / "bin", monkeypatch)
    started = time.perf_counter()
    status = main(["validate", "--root", str(SERVICE_ROOT), "--env", "dev"])
    seconds = time.perf_counter() - started
    out = capsys.readouterr().out
    print(f"validate stopped the sleeping kustomize after {seconds:.3f} s")
    assert status == 1
    assert seconds < 10
    assert "[kustomize/build] `kubectl kustomize " in out
    assert "did not finish within 0.5 seconds; stopped" in out


def test_a_kustomize_timeout_stops_promote_and_restores(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dev_with_new_digest(root)
    before = snapshot(root)
    fake_kubectl(root.parent / "bin", monkeypatch)
    assert main(["promote", "--from", "dev", "--to", "staging", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "did not finish within 0.5 seconds" in out
    assert "restored" in out
    assert snapshot(root) == before
