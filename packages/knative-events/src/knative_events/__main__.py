"""``python -m knative_events``: the same as the ``knative-events`` console script."""

import sys

from .cli import main

sys.exit(main())
