"""`traffic`: start, shift, promote or roll back a canary by editing an environment's overlay.

GitOps style: the command changes ``deployments/knative/overlays/<env>`` (the Service patch's
pinned revision name and traffic split, the kustomization's image) and Argo CD applies the
commit. The overlay must have the canary layout (``canary=true`` renders it for prod): a
pinned ``spec.template.metadata.name`` and traffic targets tagged ``stable`` and ``canary``
(plus an optional ``latest`` at 0%).

The rules it keeps, because a cluster refuses to break them:

* Knative refuses a template change without a new revision name (VerifyNameChange), and a
  revision is immutable. So ``start`` always writes a new name ``<service>-v<N+1>`` with
  the new image, and nothing else ever touches the template. ``rollback`` only moves
  traffic: the canary keeps its revision at 0% (still reachable through its tag for
  inspection) and the template stays as it is, which the cluster accepts unchanged.
  Restoring the stable revision's template instead would need its exact old spec, which
  the overlay does not keep; any difference would be refused.
* The split goes through ``TrafficConfig`` (percents in range and summing to 100, unique
  DNS-1035 tags, latestRevision exactly when no revisionName) and the revision names must
  be DNS-1035 labels ``<service>-v<N>``, the names this command gives: a longer name after
  ``<service>-`` may be another Service's revision, and from Knative 1.21 a Service routing
  to another Service's revision fails (RevisionNotOwned). The command never writes one.
* Every YAML file the overlay's kustomization reads goes through ``yamlio`` first: one
  that is too large, has anchors or aliases or nests too deep is refused.
* On any error nothing is written; otherwise both files are replaced together (temporary
  files, then renames; a failed rename puts the earlier file back).

``start`` takes the new image by digest only (``--image sha256:...`` for the service's
repository, or ``--image REPO@sha256:...``): an overlay names the digest CI built, never a
tag (rule ``images/digest-required``). ``--env`` must be a plain overlay name.

``start`` without ``--percent`` gives the canary the service's ``canary-percent`` from
``[tool.knative-manifests]`` in its pyproject.toml; with neither, ``start`` refuses.
"""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from . import constants as c
from . import yamlio
from .config import TrafficConfig, TrafficTarget
from .errors import KnativeManifestError
from .formats import dig as _dig
from .formats import is_dns1035_label
from .manifest import dump_yaml, traffic_to_manifest
from .overlays import (
    KUSTOMIZATION,
    OVERLAYS,  # noqa: F401 - re-exported: callers find the overlays' place here too
    SERVICE_PATCH,
    EnvNameError,
    Image,
    OverlayError,
    base_image,
    env_argument,
    find_image_entry,
    load_yaml,
    replace_block,
    write_all,
)
from .project import ProjectConfigError, add_root_argument, find_root, load_project_config
from .validate import checked_overlay

HELP = "start, shift, promote or roll back a canary in an environment's overlay"
ACTIONS: Final = ("status", "start", "shift", "promote", "rollback")
LATEST_TAG: Final = "latest"

_REVISION_NUMBER = re.compile(r"-v(?P<number>[0-9]+)\Z")


#: The refusals of this command are the editing commands' refusals (``OverlayError``).
TrafficCommandError = OverlayError


@dataclass(frozen=True)
class CanaryState:
    """What an overlay says: the template's revision, the split, the image."""

    service: str
    template_revision: str
    stable: str
    stable_percent: int
    canary: str
    canary_percent: int
    image: Image
    latest_target: bool

    @property
    def phase(self) -> str:
        """``steady`` (one revision), ``canary`` (a canary gets traffic) or ``rolled-back``."""
        if self.canary == self.stable:
            return "steady"
        return "canary" if self.canary_percent > 0 else "rolled-back"

    def traffic(self) -> TrafficConfig:
        """The split as a TrafficConfig, in the order the overlay lists it."""
        targets = [
            TrafficTarget(self.stable, self.stable_percent, tag=c.STABLE_TAG),
            TrafficTarget(self.canary, self.canary_percent, tag=c.CANARY_TAG),
        ]
        if self.latest_target:
            targets.append(TrafficTarget(None, 0, tag=LATEST_TAG, latest_revision=True))
        return TrafficConfig(targets=tuple(targets))

    def describe(self) -> str:
        """One line per fact, for people."""
        lines = [f"template revision {self.template_revision} runs {self.image.reference()}"]
        if self.phase == "steady":
            lines.append(
                f"all traffic on {self.stable} (tags {c.STABLE_TAG} {self.stable_percent}%, "
                f"{c.CANARY_TAG} {self.canary_percent}%)"
            )
        else:
            lines.append(f"stable {self.stable} {self.stable_percent}%")
            lines.append(f"canary {self.canary} {self.canary_percent}%")
        lines.append(f"phase: {self.phase}")
        return "\n".join(lines)


def _revision_number(revision: str) -> int:
    match = _REVISION_NUMBER.search(revision)
    return int(match.group("number")) if match else 0


@dataclass
class Overlay:
    """The two files of one environment that the command reads and writes."""

    directory: Path
    patch_text: str
    patch: dict[str, Any]
    kustomization_text: str
    kustomization: dict[str, Any]
    base_image: str | None

    @classmethod
    def load(cls, root: Path, env: str) -> Overlay:
        """Read ``<root>/deployments/knative/overlays/<env>`` (``EnvNameError`` for a bad name)."""
        directory = checked_overlay(root, env)
        patch_text, patch = load_yaml(directory / SERVICE_PATCH)
        kustomization_text, kustomization = load_yaml(directory / KUSTOMIZATION)
        return cls(
            directory, patch_text, patch, kustomization_text, kustomization, base_image(root)
        )

    @property
    def env(self) -> str:
        return self.directory.name

    def image_entry(self) -> tuple[int, Image]:
        """The ``images`` entry of the service's image (the base Service's image name)."""
        return find_image_entry(self.kustomization, self.base_image, self.directory / KUSTOMIZATION)

    def state(self) -> CanaryState:
        """The canary layout of this overlay, or an error saying what is missing."""
        where = self.directory / SERVICE_PATCH
        service = _dig(self.patch, "metadata", "name")
        revision = _dig(self.patch, "spec", "template", "metadata", "name")
        traffic = _dig(self.patch, "spec", "traffic")
        layout_hint = (
            "it needs spec.template.metadata.name and spec.traffic with targets tagged "
            f"{c.STABLE_TAG!r} and {c.CANARY_TAG!r} (render with canary=true; prod gets it)"
        )
        if not isinstance(service, str) or not isinstance(revision, str):
            raise TrafficCommandError(f"{where} has no canary layout: {layout_hint}")
        if not isinstance(traffic, list):
            raise TrafficCommandError(f"{where} has no canary layout: {layout_hint}")
        by_tag: dict[str, Mapping[str, Any]] = {}
        for entry in traffic:
            if not isinstance(entry, dict) or not isinstance(entry.get("tag"), str):
                raise TrafficCommandError(f"{where}: every traffic target needs a tag")
            if entry["tag"] not in (c.STABLE_TAG, c.CANARY_TAG, LATEST_TAG):
                raise TrafficCommandError(
                    f"{where}: traffic tag {entry['tag']!r} is not one the command manages "
                    f"({c.STABLE_TAG}, {c.CANARY_TAG}, {LATEST_TAG})"
                )
            by_tag[entry["tag"]] = entry
        stable = by_tag.get(c.STABLE_TAG)
        canary = by_tag.get(c.CANARY_TAG)
        if stable is None or canary is None:
            raise TrafficCommandError(f"{where} has no canary layout: {layout_hint}")
        names = (stable.get("revisionName"), canary.get("revisionName"))
        if not all(isinstance(name, str) for name in names):
            raise TrafficCommandError(
                f"{where}: the {c.STABLE_TAG} and {c.CANARY_TAG} targets must pin a revisionName"
            )
        latest = by_tag.get(LATEST_TAG)
        if latest is not None and (latest.get("percent") or 0) != 0:
            raise TrafficCommandError(f"{where}: the {LATEST_TAG} target must get 0%")
        _, image = self.image_entry()
        state = CanaryState(
            service=service,
            template_revision=revision,
            stable=str(stable["revisionName"]),
            stable_percent=_percent(stable, where),
            canary=str(canary["revisionName"]),
            canary_percent=_percent(canary, where),
            image=image,
            latest_target=latest is not None,
        )
        check_state(state)
        return state


def _percent(entry: Mapping[str, Any], where: Path) -> int:
    value = entry.get("percent", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrafficCommandError(f"{where}: percent {value!r} must be an integer")
    return value


def check_state(state: CanaryState) -> None:
    """Refuse a state a cluster would refuse (the same checks before every write)."""
    for revision in {state.template_revision, state.stable, state.canary}:
        if not is_dns1035_label(revision) or not revision.startswith(state.service + "-"):
            raise TrafficCommandError(
                f"[serving/revision-name] revision name {revision!r} must be a DNS-1035 label "
                f"(at most {c.DNS_LABEL_MAX_LENGTH} characters) starting with "
                f"'{state.service}-'"
            )
        if not _REVISION_NUMBER.fullmatch(revision, len(state.service)):
            raise TrafficCommandError(
                f"[serving/revision-not-owned] revision {revision!r} is not one this command "
                f"names for Service {state.service!r} ('{state.service}-v<N>'): it may be "
                "another Service's revision, which Knative 1.21 and later refuse "
                "(RevisionNotOwned)"
            )
    try:
        state.traffic().check()
    except KnativeManifestError as error:
        raise TrafficCommandError(str(error)) from None


def check_transition(before: CanaryState, after: CanaryState) -> None:
    """The template (here: its image) changes only together with a new revision name."""
    template_changed = before.image != after.image
    renamed = before.template_revision != after.template_revision
    if template_changed and not renamed:
        raise TrafficCommandError(
            "[serving/revision-name-change] the template changes but keeps the revision name "
            f"{before.template_revision!r}; Knative refuses that (VerifyNameChange)"
        )
    if renamed and after.template_revision in (before.stable, before.canary):
        raise TrafficCommandError(
            f"revision {after.template_revision!r} exists already and revisions are immutable"
        )
    if renamed and not template_changed:
        raise TrafficCommandError("a new revision needs a new image (--image)")
    check_state(after)


# --- Actions ----------------------------------------------------------------------------------
def _canary_percent(percent: int) -> int:
    if not c.CANARY_PERCENT_MIN <= percent <= c.CANARY_PERCENT_MAX:
        raise TrafficCommandError(
            f"[traffic/percent-range] a canary gets {c.CANARY_PERCENT_MIN} to "
            f"{c.CANARY_PERCENT_MAX} percent, not {percent} (promote gives it 100, rollback 0)"
        )
    return percent


def default_canary_percent(root: Path) -> int:
    """The service's ``canary-percent`` ([tool.knative-manifests]); none is a refusal.

    The percent is the service's answer, so no constant of this package stands in for it.
    """
    configured = load_project_config(root).canary_percent
    if configured is None:
        raise TrafficCommandError(
            "[traffic/percent-required] give --percent, or set canary-percent in "
            f"[tool.knative-manifests] of {root / 'pyproject.toml'}"
        )
    return configured


def start(state: CanaryState, image: str, percent: int) -> CanaryState:
    """A new revision ``<service>-v<N+1>`` with ``image`` gets ``percent``; stable the rest."""
    if state.phase == "canary":
        raise TrafficCommandError(
            f"a canary is running already ({state.canary} at {state.canary_percent}%): "
            "promote or roll it back first"
        )
    _canary_percent(percent)
    number = max(map(_revision_number, (state.template_revision, state.stable, state.canary)))
    revision = f"{state.service}-v{number + 1}"
    new_image = state.image.with_image(image, allow_tag=False)
    if new_image == state.image:
        raise TrafficCommandError(
            f"{state.image.reference()} is what {state.template_revision} runs already"
        )
    return replace(
        state,
        template_revision=revision,
        canary=revision,
        canary_percent=percent,
        stable_percent=100 - percent,
        image=new_image,
    )


def shift(state: CanaryState, percent: int) -> CanaryState:
    """Give the canary ``percent`` and stable the rest."""
    if state.phase == "steady":
        raise TrafficCommandError("no canary to shift: start one first")
    _canary_percent(percent)
    return replace(state, canary_percent=percent, stable_percent=100 - percent)


def promote(state: CanaryState) -> CanaryState:
    """The canary becomes stable with 100%; the canary tag follows it at 0%."""
    if state.phase == "steady":
        raise TrafficCommandError("no canary to promote: start one first")
    return replace(state, stable=state.canary, stable_percent=100, canary_percent=0)


def rollback(state: CanaryState) -> CanaryState:
    """Stable gets 100% again; the canary keeps its revision at 0%, the template stays."""
    if state.phase == "steady":
        raise TrafficCommandError("no canary to roll back")
    return replace(state, stable_percent=100, canary_percent=0)


# --- Writing ----------------------------------------------------------------------------------
def _header_comments(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def render(overlay: Overlay, after: CanaryState) -> dict[Path, str]:
    """The new texts of the two files; each is re-read to prove it says what we meant."""
    patch = copy.deepcopy(overlay.patch)
    patch["spec"]["template"]["metadata"]["name"] = after.template_revision
    patch["spec"]["traffic"] = traffic_to_manifest(after.traffic())
    patch_text = _header_comments(overlay.patch_text) + dump_yaml(patch)

    index, image = overlay.image_entry()
    kustomization = copy.deepcopy(overlay.kustomization)
    kustomization["images"][index] = after.image.to_entry()
    kustomization_text = overlay.kustomization_text
    if after.image != image:
        kustomization_text = replace_block(kustomization_text, "images", kustomization["images"])

    for text, meant, path in (
        (patch_text, patch, SERVICE_PATCH),
        (kustomization_text, kustomization, KUSTOMIZATION),
    ):
        if yamlio.loads(text, str(path)) != meant:  # pragma: no cover - a guard, not a branch
            raise TrafficCommandError(f"could not write {path} faithfully; nothing written")
    return {
        overlay.directory / SERVICE_PATCH: patch_text,
        overlay.directory / KUSTOMIZATION: kustomization_text,
    }


def apply(
    root: Path, env: str, action: str, *, image: str | None = None, percent: int | None = None
) -> tuple[CanaryState, CanaryState]:
    """Run ``action`` on ``env``'s overlay; returns the states before and after.

    ``start`` without ``percent`` uses ``default_canary_percent(root)``; a broken
    ``[tool.knative-manifests]`` raises ``ProjectConfigError`` before anything is read.
    """
    if action not in ACTIONS:
        raise TrafficCommandError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if image is not None and action != "start":
        raise TrafficCommandError(f"{action} takes no --image: only start changes the image")
    if percent is not None and action not in ("start", "shift"):
        raise TrafficCommandError(f"{action} takes no --percent")
    overlay = Overlay.load(root, env)
    before = overlay.state()
    if action == "status":
        return before, before
    if action == "start":
        if image is None:
            raise TrafficCommandError(
                "start needs --image sha256:<64 hex> or --image REGISTRY/REPO@sha256:<64 hex>"
            )
        after = start(before, image, default_canary_percent(root) if percent is None else percent)
    elif action == "shift":
        if percent is None:
            raise TrafficCommandError("shift needs --percent N")
        after = shift(before, percent)
    elif action == "promote":
        after = promote(before)
    else:
        after = rollback(before)
    check_transition(before, after)
    write_all(render(overlay, after))
    return before, after


# --- Command line -----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `traffic`."""
    parser.add_argument("action", choices=ACTIONS, help="what to do with the canary")
    parser.add_argument(
        "--env", default="prod", type=env_argument, help="environment overlay (default: prod)"
    )
    add_root_argument(parser)
    parser.add_argument(
        "--image",
        help="start: the new image's digest (sha256:...) or full reference (REPO@sha256:...)",
    )
    parser.add_argument(
        "--percent",
        type=int,
        help=(
            f"start/shift: the canary's percent ({c.CANARY_PERCENT_MIN}-{c.CANARY_PERCENT_MAX}; "
            "start defaults to canary-percent of [tool.knative-manifests] in pyproject.toml)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Run `traffic`; 0 on success, 1 when the request was refused (nothing written), 2 when
    the service's [tool.knative-manifests] is unusable or --env is no overlay name."""
    root = args.root if args.root is not None else find_root()
    try:
        before, after = apply(root, args.env, args.action, image=args.image, percent=args.percent)
    except TrafficCommandError as error:
        print(f"traffic: {error}; nothing written")
        return 1
    except (EnvNameError, ProjectConfigError) as error:
        print(f"traffic: {error}; nothing written")
        return 2
    if args.action == "status":
        print(f"{args.env}:\n{before.describe()}")
        return 0
    print(f"{args.env}: {args.action} done\n{after.describe()}")
    print(
        "next: validate and commit, e.g. "
        f"`knative-manifests validate --env {args.env}` then git commit"
    )
    return 0
