"""Knative, Istio and Argo CD manifest tooling for a service repository.

``knative-manifests validate`` builds every overlay with kustomize and checks the result
the way a cluster would (CRD schemas, admission-webhook rules, references, handlers and
Triggers); ``knative-manifests traffic`` runs a canary by editing an overlay. The modules
``config``, ``manifest``, ``constants`` and ``formats`` import without the ``validate``
extra, for code that only builds manifests.
"""

__version__ = "0.4.0"
