"""`image set` and `image get`: the digest an environment's overlay names.

``knative-manifests image set --env dev --digest sha256:...`` sets ``digest:`` on the
kustomization ``images`` entry of the service's image (the entry named like the base
Service's container image, as ``traffic`` finds it) and removes ``newTag:``; ``newName``
stays. CI runs it after pushing and verifying an image, instead of ``kustomize edit set
image``, so one implementation serves CI and people. It prints a one-line summary and the
unified diff of what it wrote.

``image get --env staging`` prints the reference the overlay deploys (``repo@sha256:...``),
so a workflow can verify its signature before promoting it; an overlay without a digest
is refused.

An overlay that pins its revision name (``spec.template.metadata.name``: the canary
layout) is refused: Knative refuses an image change under the same revision name, so such
an overlay gets a new image only through ``traffic start``.

Every YAML file the overlay's kustomization reads goes through ``yamlio`` first: one that
is too large, has anchors or aliases or nests too deep is refused, and nothing is written.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import yamlio
from .overlays import (
    KUSTOMIZATION,
    EnvNameError,
    Image,
    OverlayError,
    base_image,
    digest_argument,
    env_argument,
    find_image_entry,
    load_yaml,
    pinned_revision,
    replace_block,
    unified_diff,
    write_all,
)
from .project import add_root_argument, find_root
from .validate import checked_overlay

HELP = "write (set) or read (get) the image digest of an environment's overlay"
ACTIONS = ("set", "get")


@dataclass(frozen=True)
class DigestChange:
    """What setting a digest on one overlay changes: the image before and after, the text."""

    env: str
    path: Path
    before: Image
    after: Image
    text: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def overlay_image(root: Path, env: str) -> tuple[Path, str, dict[str, Any], int, Image]:
    """The kustomization of ``env``'s overlay and the service's images entry in it."""
    path = checked_overlay(root, env) / KUSTOMIZATION
    text, kustomization = load_yaml(path)
    index, image = find_image_entry(kustomization, base_image(root), path)
    return path, text, kustomization, index, image


def digest_change(root: Path, env: str, digest: str) -> DigestChange:
    """The new kustomization text of ``env`` with ``digest`` (nothing is written).

    Refused (``OverlayError``) when the overlay does not exist, has no images entry of the
    service, or pins its revision name (canary layout: use ``traffic start``).
    """
    path, text, kustomization, index, before = overlay_image(root, env)
    after = before.with_digest(digest)
    if after != before:
        revision = pinned_revision(root, path.parent)
        if revision is not None:
            raise OverlayError(
                f"the {env} overlay pins revision {revision!r} (canary layout) and Knative "
                "refuses a new image under the same revision name: run `knative-manifests "
                f"traffic start --env {env} --image {digest}` instead"
            )
    if after == before:
        return DigestChange(env, path, before, after, text)
    entries = copy.deepcopy(kustomization["images"])  # a list: find_image_entry checked it
    entries[index] = after.to_entry()
    new_text = replace_block(text, "images", entries)
    meant = {**kustomization, "images": entries}
    if yamlio.loads(new_text, str(path)) != meant:  # pragma: no cover - a guard, not a branch
        raise OverlayError(f"could not write {path} faithfully; nothing written")
    return DigestChange(env, path, before, after, new_text)


def set_digest(root: Path, env: str, digest: str) -> tuple[DigestChange, str]:
    """Write ``digest`` into ``env``'s overlay; returns the change and its unified diff."""
    change = digest_change(root, env, digest)
    diff = unified_diff(root, {change.path: change.text})
    if change.changed:
        write_all({change.path: change.text})
    return change, diff


# --- Command line -----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `image`."""
    parser.add_argument(
        "action",
        choices=ACTIONS,
        help="set: write a digest into an overlay; get: print the image reference it deploys",
    )
    parser.add_argument("--env", required=True, type=env_argument, help="environment overlay")
    parser.add_argument(
        "--digest",
        type=digest_argument,
        help="set: the image's digest, sha256:<64 lowercase hex digits>",
    )
    add_root_argument(parser)


def get_reference(root: Path, env: str) -> str:
    """``repo@sha256:...`` of ``env``'s overlay; ``OverlayError`` when it names no digest."""
    path, _, _, _, image = overlay_image(root, env)
    if not image.digest:
        raise OverlayError(f"{path} names no digest for {image.new_name} (not promoted yet)")
    return f"{image.new_name}@{image.digest}"


def run(args: argparse.Namespace) -> int:
    """`image set`/`get`: 0 done, 1 refused (nothing written), 2 bad --env or --digest."""
    root = args.root if args.root is not None else find_root()
    if args.action == "get":
        try:
            print(get_reference(root, args.env))
        except EnvNameError as error:
            print(f"image: {error}")
            return 2
        except OverlayError as error:
            print(f"image: {error}")
            return 1
        return 0
    if args.digest is None:
        print("image set: --digest sha256:<64 lowercase hex digits> is required; nothing written")
        return 2
    try:
        change, diff = set_digest(root, args.env, args.digest)
    except EnvNameError as error:
        print(f"image: {error}; nothing written")
        return 2
    except OverlayError as error:
        print(f"image: {error}; nothing written")
        return 1
    if not change.changed:
        print(f"{change.env}: image {change.after.reference()} already; nothing to change")
        return 0
    print(f"{change.env}: image {change.after.reference()} (was {change.before.reference()})")
    print(diff, end="")
    return 0
