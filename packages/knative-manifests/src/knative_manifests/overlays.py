"""What the editing commands share: overlay names, the service's image entry, safe writes.

``traffic``, ``image set`` and ``promote`` all edit ``deployments/knative/overlays/<env>``.
This module is the one place that

* turns an ``--env`` argument into an overlay directory, refusing anything but a plain
  overlay name inside ``deployments/knative/overlays`` (``EnvNameError``);
* reads image references (``split_reference``, ``is_digest``) and finds the kustomization
  ``images`` entry of the service's image: the entry named like the base Service's
  container image (``find_image_entry``);
* writes a set of files all together or not at all (``write_all``) and shows what changed
  (``unified_diff``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import yaml

from . import yamlio
from .formats import dig as _dig
from .manifest import dump_yaml

OVERLAYS: Final = Path("deployments/knative/overlays")
KUSTOMIZATION: Final = Path("kustomization.yaml")
SERVICE_PATCH: Final = Path("patches/service-patch.yaml")
BASE_SERVICE: Final = Path("deployments/knative/base/service.yaml")

#: An ``--env`` value: a plain overlay directory name (a DNS-1123 label's characters).
ENV_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
#: The only digest an overlay names: sha256 and 64 lowercase hex digits.
DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REFERENCE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


class OverlayError(Exception):
    """The overlay or the request is not something the command (or a cluster) accepts."""


class EnvNameError(ValueError):
    """An ``--env`` value that is not a plain overlay name inside the overlays directory."""


# --- Environment names ------------------------------------------------------------------------
def check_env_name(env: str) -> str:
    """``env`` when it is a plain overlay name, else ``EnvNameError`` saying what it must be."""
    if not isinstance(env, str) or not ENV_NAME.fullmatch(env):
        raise EnvNameError(
            f"{env!r} is not an environment name: it must be the plain name of a "
            f"directory under {OVERLAYS} (lowercase letters, digits and '-', like dev or prod)"
        )
    return env


def env_argument(value: str) -> str:
    """An argparse ``type`` for ``--env``: a bad name is a usage error (exit status 2)."""
    try:
        return check_env_name(value)
    except EnvNameError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def digest_argument(value: str) -> str:
    """An argparse ``type`` for ``--digest``: ``sha256:`` and 64 lowercase hex digits."""
    if not is_digest(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a digest: it must be sha256: followed by 64 lowercase hex digits"
        )
    return value


def overlay_directory(root: Path, env: str) -> Path:
    """``<root>/deployments/knative/overlays/<env>``, refused unless it lies inside overlays.

    The name check rules out ``..`` and ``/``; resolving rules out a symlink that leads out
    of the overlays directory. The directory need not exist (callers say what is missing).
    """
    check_env_name(env)
    overlays = (root / OVERLAYS).resolve()
    directory = (root / OVERLAYS / env).resolve()
    if directory.parent != overlays:
        raise EnvNameError(
            f"environment {env!r} resolves to {directory}, which is not a directory of {overlays}"
        )
    return root / OVERLAYS / env


# --- Image references -------------------------------------------------------------------------
def is_digest(value: object) -> bool:
    """``sha256:`` and 64 lowercase hex digits, exactly."""
    return isinstance(value, str) and DIGEST.fullmatch(value) is not None


@dataclass(frozen=True)
class Reference:
    """An image reference cut into repository, tag and digest (as written, not checked)."""

    repository: str
    tag: str | None
    digest: str | None


def split_reference(image: str) -> Reference:
    """``registry:5000/team/app:1.0@sha256:...`` -> repository, tag, digest.

    The tag is what follows the last ``:`` of the last path segment (a registry's port is
    not a tag); the digest is everything after ``@``.
    """
    rest, at, digest = image.partition("@")
    head, slash, last = rest.rpartition("/")
    name, colon, tag = last.partition(":")
    return Reference(head + slash + name, tag if colon else None, digest if at else None)


@dataclass(frozen=True)
class Image:
    """The kustomization ``images`` entry of the service's image."""

    name: str
    new_name: str
    new_tag: str | None
    digest: str | None

    def reference(self) -> str:
        """The full reference the entry produces."""
        ref = self.new_name
        if self.new_tag:
            ref += f":{self.new_tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref

    def to_entry(self) -> dict[str, str]:
        """The entry as kustomize reads it."""
        entry = {"name": self.name, "newName": self.new_name}
        if self.new_tag is not None:
            entry["newTag"] = self.new_tag
        if self.digest is not None:
            entry["digest"] = self.digest
        return entry

    def with_digest(self, digest: str) -> Image:
        """This entry naming ``digest`` and no tag (the repository stays)."""
        if not is_digest(digest):
            raise OverlayError(f"{digest!r} is not a digest: it must be sha256: and 64 hex digits")
        return replace(self, new_tag=None, digest=digest)

    def with_image(self, image: str, *, allow_tag: bool = True) -> Image:
        """This entry pointing at ``image``: a digest, a tag, or a full reference."""
        if is_digest(image):
            return self.with_digest(image)
        if allow_tag and _TAG.fullmatch(image):
            return replace(self, new_tag=image, digest=None)
        match = _REFERENCE.fullmatch(image)
        wanted = "digest" if not allow_tag else "tag or digest"
        if match is None or not (match.group("digest") or (allow_tag and match.group("tag"))):
            raise OverlayError(
                f"--image {image!r} must name a {wanted}: sha256:<64 hex> for the service's "
                "repository, or a full reference like ghcr.io/acme/app@sha256:<64 hex>"
            )
        return Image(self.name, match.group("name"), match.group("tag"), match.group("digest"))


def load_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of ``path`` and the one YAML mapping it holds."""
    try:
        text = yamlio.read_text(path)
        document = yamlio.loads(text, str(path))
    except FileNotFoundError:
        raise OverlayError(f"{path} does not exist") from None
    except yamlio.YamlRefusedError as error:
        raise OverlayError(str(error)) from None
    except yaml.YAMLError as error:
        raise OverlayError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise OverlayError(f"{path} must hold one YAML mapping")
    return text, document


def base_image(root: Path) -> str | None:
    """The first container image of the base Service (``deployments/knative/base``)."""
    path = root / BASE_SERVICE
    if not path.is_file():
        return None
    _, base = load_yaml(path)
    containers = _dig(base, "spec", "template", "spec", "containers")
    if isinstance(containers, list) and containers and isinstance(containers[0], dict):
        image = containers[0].get("image")
        return image if isinstance(image, str) else None
    return None


def find_image_entry(
    kustomization: Mapping[str, Any], image: str | None, where: Path
) -> tuple[int, Image]:
    """The ``images`` entry of the service's image and its index.

    A single entry is the service's; among several, the one whose ``name`` is the base
    Service's image repository (kustomize matches names without tag or digest).
    """
    images = kustomization.get("images")
    if not isinstance(images, list) or not images:
        raise OverlayError(f"{where} has no images entry")
    repository = None if image is None else split_reference(image).repository
    candidates = [
        (index, entry)
        for index, entry in enumerate(images)
        if isinstance(entry, dict)
        and (len(images) == 1 or entry.get("name") in (image, repository))
    ]
    if len(candidates) != 1:
        raise OverlayError(
            f"{where}: cannot tell which images entry is the service's (looked for {image!r})"
        )
    index, entry = candidates[0]
    name = entry.get("name")
    if not isinstance(name, str):
        raise OverlayError(f"{where}: images entry has no name")
    new_name = entry.get("newName", name)
    tag = entry.get("newTag")
    digest = entry.get("digest")
    return index, Image(
        name,
        str(new_name),
        None if tag is None else str(tag),
        None if digest is None else str(digest),
    )


def pinned_revision(root: Path, directory: Path) -> str | None:
    """The revision name an overlay pins (``spec.template.metadata.name``), if any.

    Looked for in the overlay's Service patch, then in the base Service. An overlay that
    pins one has the canary layout: its image changes only with a new revision name.
    """
    for path in (directory / SERVICE_PATCH, root / BASE_SERVICE):
        if path.is_file():
            _, document = load_yaml(path)
            name = _dig(document, "spec", "template", "metadata", "name")
            if isinstance(name, str):
                return name
    return None


# --- Writing ----------------------------------------------------------------------------------
def replace_block(text: str, key: str, value: Any) -> str:
    """``text`` with the top-level ``key:`` block re-dumped; comments elsewhere are kept."""
    lines = text.splitlines()
    try:
        start_line = lines.index(f"{key}:")
    except ValueError:
        raise OverlayError(f"no top-level {key}: block to update") from None
    end = start_line + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "-"))):
        end += 1
    while end > start_line + 1 and not lines[end - 1].strip():
        end -= 1
    block = dump_yaml({key: value}).splitlines()
    new_lines = lines[:start_line] + block + lines[end:]
    return "\n".join(new_lines) + "\n"


def write_all(files: Mapping[Path, str]) -> None:
    """Write every file or none: temporary files first, then renames (undone on failure)."""
    staged: list[tuple[Path, Path, str]] = []
    try:
        for path, text in files.items():
            old = path.read_text(encoding="utf-8")
            if old == text:
                continue
            handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.chmod(temp_name, stat.S_IMODE(path.stat().st_mode))  # mkstemp makes it 0600
            staged.append((path, Path(temp_name), old))
    except BaseException:
        for _, temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    done: list[tuple[Path, str]] = []
    try:
        for path, temp, old in staged:
            os.replace(temp, path)
            done.append((path, old))
    except BaseException:
        for path, old in done:
            path.write_text(old, encoding="utf-8")
        for _, temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise


def unified_diff(root: Path, files: Mapping[Path, str]) -> str:
    """The unified diff from each file's current text to ``files``' text, paths from root."""
    chunks: list[str] = []
    for path, text in files.items():
        old = path.read_text(encoding="utf-8")
        try:
            shown = path.relative_to(root).as_posix()
        except ValueError:
            shown = path.as_posix()
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"a/{shown}",
                tofile=f"b/{shown}",
            )
        )
    return "".join(chunks)
