"""Knative support: configuration models, manifests, admission rules and the ``validate`` CLI.

``python -m <package>.knative validate`` builds every overlay with kustomize and checks the
result the way a cluster would (CRD schemas, admission-webhook rules, references).
"""
