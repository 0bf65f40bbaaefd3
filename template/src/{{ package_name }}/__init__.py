"""The service's own code: its event handlers, its settings, and the app that joins them.

The event runtime (``knative_events``) and the manifest tooling (``knative_manifests``) are
versioned packages this service depends on; ``main.py`` builds the app from the runtime
with the registry of ``handlers`` and the defaults of ``settings``.
"""
