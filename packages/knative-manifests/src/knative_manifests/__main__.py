"""`python -m knative_manifests <command>`: the same as the `knative-manifests` script."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
