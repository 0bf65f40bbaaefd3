"""`promote`: carry the digest of one environment's overlay to the next one.

``knative-manifests promote --from dev --to staging`` copies the digest of the service's
image from the ``dev`` overlay to the ``staging`` overlay's images entry (``digest:`` set,
``newTag:`` removed, the to-overlay's ``newName`` kept), so staging runs exactly what dev
ran. It refuses, writing nothing, when

* an ``--from``/``--to`` value is not a plain overlay name inside the overlays directory
  (exit status 2), or names no existing overlay, or both name the same one;
* the from-overlay names no digest (not built yet, or a tag);
* a YAML file either overlay's kustomization reads is refused by ``yamlio`` (too large,
  anchors or aliases, too deep): checked before anything is written;
* the to-overlay pins its revision name (``spec.template.metadata.name``, the canary
  layout prod gets): Knative refuses a new image under the same revision name, in any
  phase, so such an overlay gets a new digest only through ``traffic start`` (the message
  gives the command, with the digest).

After writing, the changed overlay is checked exactly as ``validate --env <to>`` checks
it (kustomize, admission rules, references, handlers; no CRD schemas). On a violation the
original file is put back and the command fails. ``--dry-run`` prints the diff and writes
nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .image import DigestChange, digest_change, overlay_image
from .overlays import (
    EnvNameError,
    OverlayError,
    env_argument,
    is_digest,
    unified_diff,
    write_all,
)
from .project import ProjectConfigError, add_root_argument, find_root
from .validate import KustomizeError, kustomize_command, validate_tree

HELP = "copy the image digest of one environment's overlay to another's (dev -> staging)"


def run_promotion(
    root: Path, source: str, target: str, *, dry_run: bool = False
) -> tuple[DigestChange, str, list[str]]:
    """Promote ``source``'s digest to ``target``; returns the change, its diff, and the
    check's lines (warnings and summary; none for a dry run or when nothing changes).

    Raises ``EnvNameError`` for a bad name, ``OverlayError`` for a refusal (nothing
    written; after a failed check the original file is back), ``KustomizeError`` or
    ``ProjectConfigError`` when the check cannot run (nothing written).
    """
    _, _, _, _, from_image = overlay_image(root, source)
    overlay_image(root, target)  # exists, with the service's images entry
    if source == target:
        raise OverlayError(f"--from and --to name the same environment {source!r}")
    digest = from_image.digest
    if digest is None or not is_digest(digest):
        raise OverlayError(
            f"the {source} overlay names no digest ({from_image.reference()}): run CI (or "
            f"`knative-manifests image set --env {source} --digest sha256:...`) first"
        )
    change = digest_change(root, target, digest)
    diff = unified_diff(root, {change.path: change.text})
    if not change.changed or dry_run:
        return change, diff, []
    kustomize_command()  # no kustomize: fail before writing, not after
    original = change.path.read_text(encoding="utf-8")
    write_all({change.path: change.text})
    try:
        report = validate_tree(root, None, [target])
    except BaseException:
        write_all({change.path: original})
        raise
    if not report.ok:
        write_all({change.path: original})
        lines = "\n".join(str(v) for v in report.violations)
        raise OverlayError(
            f"the promoted {target} overlay does not validate, so {change.path} is restored:\n"
            f"{lines}"
        )
    return (
        change,
        diff,
        [*(f"WARNING: {w}" for w in report.warnings), f"{target}: {report.summary()}"],
    )


# --- Command line -----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `promote`."""
    parser.add_argument(
        "--from",
        dest="source",
        metavar="ENV",
        required=True,
        type=env_argument,
        help="overlay to copy from",
    )
    parser.add_argument(
        "--to",
        dest="target",
        metavar="ENV",
        required=True,
        type=env_argument,
        help="overlay to write",
    )
    add_root_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")


def run(args: argparse.Namespace) -> int:
    """Run `promote`: 0 done (or nothing to change), 1 refused or failed its check (nothing
    written), 2 the check could not run or a name is no overlay name."""
    root = args.root if args.root is not None else find_root()
    try:
        change, diff, lines = run_promotion(root, args.source, args.target, dry_run=args.dry_run)
    except OverlayError as error:
        print(f"promote: {error}; nothing written")
        return 1
    except (EnvNameError, KustomizeError, ProjectConfigError) as error:
        print(f"promote: {error}; nothing written")
        return 2
    where = f"promote {args.source} -> {args.target}"
    if not change.changed:
        print(f"{where}: {change.after.reference()} already; nothing to change")
        return 0
    done = " (dry run: nothing written)" if args.dry_run else ""
    print(f"{where}: {change.after.reference()} (was {change.before.reference()}){done}")
    print(diff, end="")
    for line in lines:
        print(line)
    return 0
