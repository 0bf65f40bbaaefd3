"""OpenTelemetry traces for events (the ``tracing`` extra), switched on by TRACING=true.

Nothing in this package's ``__init__`` or :mod:`.hooks` imports OpenTelemetry: with tracing
off the app never loads it, and the event path has no tracing branch at all (the pieces
of :mod:`.otel` are put in place by ``create_app`` only when TRACING is on).
"""
