"""Hypothesis properties of the Knative configuration, manifests and GitOps files.

Properties 1-5 and 9 of the design (knative-serverless-support); each runs at least 100
examples. Overlays are applied in-process for the generated examples (kustomize would cost
a process per example); ``test_in_process_overlay_matches_kustomize`` proves the in-process
overlay equals what ``kubectl kustomize`` builds, and the project's own overlays are run
through kustomize on generated bases in ``test_project_overlays_accept_generated_bases``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_tree import REQUIRED_SETTINGS, SERVICE_ROOT

from knative_manifests import constants as c
from knative_manifests.argo import generate_applications
from knative_manifests.config import (
    KnativeServiceConfig,
    ProbeConfig,
    TrafficConfig,
    TrafficTarget,
    class_short_name,
    format_number,
)
from knative_manifests.errors import InvalidAutoscalingConfigError
from knative_manifests.formats import is_dns1123_subdomain
from knative_manifests.manifest import (
    deserialize_knative_service,
    manifest_to_service,
    serialize_knative_service,
    service_to_manifest,
)
from knative_manifests.rules import check_documents
from knative_manifests.validate import kustomize_command, validate_tree

PROJECT_ROOT = SERVICE_ROOT
BASE_SERVICE = PROJECT_ROOT / "deployments" / "knative" / "base" / "service.yaml"
ENVIRONMENTS = c.ENVIRONMENTS


def env_digest(env: str) -> str:
    """The digest CI built for ``env`` in these tests (a fixed, well-formed sha256)."""
    return "sha256:" + hashlib.sha256(env.encode()).hexdigest()


APP_IMAGE = "x.io/app/app@" + env_digest("app")

# Names are built from small alphabets rather than regexes: generation stays fast.
LOWER = "abcdefghijklmnopqrstuvwxyz"
ALNUM = LOWER + "0123456789"
words = st.text(ALNUM, min_size=1, max_size=6)
dns1123 = st.lists(words, min_size=1, max_size=3).map("-".join)
dns1035 = st.builds(
    "{}{}".format,
    st.sampled_from(LOWER),
    st.lists(words, max_size=2).map(lambda parts: "".join("-" + part for part in parts)),
)
segments = st.builds("{}{}".format, st.sampled_from(LOWER), st.text(ALNUM, max_size=8))
label_values = st.text(ALNUM + "ABCXYZ", min_size=1, max_size=12)
label_keys = st.builds("example.com/{}".format, dns1035)
env_names = st.builds("{}{}".format, st.sampled_from("ABCXYZ"), st.text("ABC_123", max_size=10))
ports = st.integers(c.PORT_MIN, c.PORT_MAX).filter(lambda p: p not in c.RESERVED_PORTS)
hex_digests = st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:{}".format)
images = st.builds("ghcr.io/{}/{}@{}".format, segments, segments, hex_digests)
durations = st.one_of(st.integers(0, 3600).map("{}s".format), st.integers(0, 60).map("{}m".format))
probes = st.builds(
    ProbeConfig,
    path=st.sampled_from(["/health/ready", "/health/live", "/"]),
    initial_delay_seconds=st.none() | st.integers(0, 60),
    period_seconds=st.none() | st.integers(1, 60),
    timeout_seconds=st.none() | st.integers(1, 10),
    success_threshold=st.none() | st.just(1),
    failure_threshold=st.none() | st.integers(1, 10),
)


@st.composite
def autoscaling(draw: st.DrawFn) -> dict[str, Any]:
    """Class, metric, target and scale bounds that fit together."""
    short = draw(st.sampled_from(sorted(c.AUTOSCALING_CLASSES)))
    metric = draw(st.sampled_from(c.METRICS_FOR_CLASS[short]))
    high = c.CPU_TARGET_MAX if metric == "cpu" else 10_000.0
    target = draw(st.none() | st.floats(c.AUTOSCALING_TARGET_MIN, high, allow_nan=False))
    low_min = 1 if short == c.HPA else 0
    min_scale = draw(st.integers(low_min, 20))
    max_scale = draw(st.just(0) | st.integers(max(min_scale, 1), 50))
    return {
        "autoscaling_class": draw(st.sampled_from([short, c.AUTOSCALING_CLASSES[short]])),
        "autoscaling_metric": metric,
        "autoscaling_target": target,
        "min_scale": min_scale,
        "max_scale": max_scale,
        "scale_down_delay": draw(st.none() | durations),
    }


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    cpu = draw(st.integers(1, 4000))
    memory = draw(st.integers(16, 4096))
    return {
        "cpu_request": f"{cpu}m",
        "cpu_limit": f"{draw(st.integers(cpu, 8000))}m",
        "memory_request": f"{memory}Mi",
        "memory_limit": f"{draw(st.integers(memory, 8192))}Mi",
    }


@st.composite
def traffic_configs(draw: st.DrawFn) -> TrafficConfig:
    """A valid split: percents partition 100, unique tags, latest xor pinned revision."""
    count = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 100]
    tags = draw(st.lists(dns1035, min_size=count, max_size=count, unique=True))
    targets = []
    for index in range(count):
        latest = draw(st.booleans())
        targets.append(
            TrafficTarget(
                revision_name=None if latest else f"rev-{index:05d}",
                percent=bounds[index + 1] - bounds[index],
                tag=draw(st.none() | st.just(tags[index])),
                latest_revision=latest,
            )
        )
    return TrafficConfig(tuple(targets))


@st.composite
def service_configs(draw: st.DrawFn, *, with_traffic: bool = True) -> KnativeServiceConfig:
    """Any KnativeServiceConfig a cluster would accept."""
    name = draw(dns1035)
    return KnativeServiceConfig(
        name=name,
        image=draw(images),
        namespace=draw(st.none() | dns1123),
        port=draw(ports),
        port_name=draw(st.sampled_from(c.ALLOWED_PORT_NAMES)),
        **draw(autoscaling()),
        **draw(resources()),
        container_concurrency=draw(
            st.integers(c.CONTAINER_CONCURRENCY_MIN, c.CONTAINER_CONCURRENCY_MAX)
        ),
        timeout_seconds=draw(st.integers(c.TIMEOUT_SECONDS_MIN, c.TIMEOUT_SECONDS_MAX)),
        istio_sidecar=draw(st.booleans()),
        labels=draw(st.dictionaries(label_keys, label_values, max_size=3)),
        annotations=draw(st.dictionaries(label_keys, st.text(max_size=20), max_size=2)),
        revision_name=draw(st.none() | st.just(f"{name}-v1")),
        service_account_name=draw(st.none() | dns1123),
        automount_service_account_token=draw(st.none() | st.just(False)),
        config_map_name=draw(st.none() | dns1123),
        env=draw(st.dictionaries(env_names, st.text(max_size=20), max_size=3)),
        readiness_probe=draw(st.none() | probes),
        liveness_probe=draw(st.none() | probes),
        scratch_volumes=draw(st.sampled_from([{}, {"tmp": "/scratch"}, {"cache": "/var/cache"}])),
        traffic=draw(st.none() | traffic_configs()) if with_traffic else None,
    )


@given(service_configs())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_1_manifest_round_trip(config: KnativeServiceConfig) -> None:
    """
    **Feature: knative-serverless-support, Property 1: Knative Service Manifest Round-Trip**
    **Validates: Requirements 1.5, 2.5**
    """
    yaml_text = serialize_knative_service(config)
    assert deserialize_knative_service(yaml_text) == config


targets = st.builds(
    TrafficTarget,
    revision_name=st.just("rev-00001"),
    percent=st.integers(c.PERCENT_MIN, c.PERCENT_MAX),
    tag=st.none(),
    latest_revision=st.just(False),
)


@given(st.one_of(st.lists(targets, max_size=6), traffic_configs().map(lambda t: list(t.targets))))
@settings(max_examples=100, deadline=None)
def test_property_2_traffic_validation(split: list[TrafficTarget]) -> None:
    """
    **Feature: knative-serverless-support, Property 2: Traffic Percentage Validation**
    **Validates: Requirements 3.2, 3.5**
    """
    config = TrafficConfig(tuple(split))
    assert config.validate() is (sum(t.percent for t in split) == 100)
    manifest = service_to_manifest(
        KnativeServiceConfig(name="app", image=APP_IMAGE, **REQUIRED_SETTINGS)
    )
    manifest["spec"]["traffic"] = [
        {"revisionName": t.revision_name, "percent": t.percent} for t in split
    ]
    sum_violations = [v for v in check_documents([manifest]) if v.rule == "traffic/percent-sum"]
    assert (not sum_violations) is (config.validate() or not split)


@given(traffic_configs(), dns1035)
@settings(max_examples=100, deadline=None)
def test_property_3_traffic_in_manifest(traffic: TrafficConfig, name: str) -> None:
    """
    **Feature: knative-serverless-support, Property 3: Traffic Configuration Generation**
    **Validates: Requirements 3.1**
    """
    config = KnativeServiceConfig(name=name, image=APP_IMAGE, traffic=traffic, **REQUIRED_SETTINGS)
    entries = service_to_manifest(config)["spec"]["traffic"]
    assert len(entries) == len(traffic.targets)
    for entry, target in zip(entries, traffic.targets, strict=True):
        assert entry["percent"] == target.percent
        assert entry.get("tag") == target.tag
        assert entry.get("latestRevision", False) is target.latest_revision
        assert entry.get("revisionName") == target.revision_name
    assert check_documents([service_to_manifest(config)]) == []


# --- Property 4: overlays ------------------------------------------------------------------


def env_scale(config: KnativeServiceConfig, env: str) -> tuple[int, int]:
    """The per-environment scale policy of the overlays below."""
    floor = 1 if class_short_name(config.autoscaling_class) == c.HPA else 0
    if env == "dev":
        return floor, max(floor, 3)
    if env == "prod":
        return max(config.min_scale, 1), config.max_scale
    return config.min_scale, config.max_scale


def overlay_patch(config: KnativeServiceConfig, env: str) -> dict[str, Any]:
    low, high = env_scale(config, env)
    return {
        "apiVersion": c.SERVING_API_VERSION,
        "kind": "Service",
        "metadata": {"name": config.name},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        c.ANNOTATION_MIN_SCALE: str(low),
                        c.ANNOTATION_MAX_SCALE: str(high),
                    }
                }
            }
        },
    }


def apply_overlay(config: KnativeServiceConfig, env: str) -> dict[str, Any]:
    """What kustomize builds from the overlay written by ``write_tree``, in-process."""
    doc = copy.deepcopy(service_to_manifest(config))
    doc["metadata"]["namespace"] = f"apps-{env}"
    doc["metadata"].setdefault("labels", {})["environment"] = env
    repository = config.image.split("@")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = f"{repository}@{env_digest(env)}"
    annotations = overlay_patch(config, env)["spec"]["template"]["metadata"]["annotations"]
    doc["spec"]["template"]["metadata"]["annotations"].update(annotations)
    return doc


def write_tree(config: KnativeServiceConfig, root: Path) -> None:
    """A kustomize base with the config's Service and one overlay per environment."""
    (root / "base").mkdir(parents=True)
    (root / "base" / "service.yaml").write_text(serialize_knative_service(config))
    (root / "base" / "kustomization.yaml").write_text("resources: [service.yaml]\n")
    repository = config.image.split("@")[0]
    for env in ENVIRONMENTS:
        overlay = root / "overlays" / env
        overlay.mkdir(parents=True)
        (overlay / "patch.yaml").write_text(yaml.safe_dump(overlay_patch(config, env)))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": f"apps-{env}",
            "resources": ["../../base"],
            "labels": [{"pairs": {"environment": env}}],
            "images": [{"name": repository, "digest": env_digest(env)}],
            "patches": [{"path": "patch.yaml"}],
        }
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))


@given(service_configs(with_traffic=True))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_4_overlays_produce_valid_services(config: KnativeServiceConfig) -> None:
    """
    **Feature: knative-serverless-support, Property 4: Kustomize Overlay Produces Valid Manifest**
    **Validates: Requirements 4.4, 4.5**
    """
    for env in ENVIRONMENTS:
        built = apply_overlay(config, env)
        assert check_documents([built]) == [], env
        read = manifest_to_service(built)
        low, high = env_scale(config, env)
        assert (read.namespace, read.min_scale, read.max_scale) == (f"apps-{env}", low, high)
        assert read.traffic == config.traffic
        assert read.autoscaling_class == config.autoscaling_class


def fixed_configs() -> list[KnativeServiceConfig]:
    """The project's own base plus two variants the generated space covers."""
    base = deserialize_knative_service(BASE_SERVICE.read_text(encoding="utf-8"))
    canary = TrafficConfig(
        (
            TrafficTarget(f"{base.name}-v1", 90, tag=c.STABLE_TAG),
            TrafficTarget(None, 10, tag=c.CANARY_TAG, latest_revision=True),
        )
    )
    hpa = KnativeServiceConfig(
        name="api",
        image="ghcr.io/acme/api@" + env_digest("api"),
        autoscaling_class=c.HPA,
        autoscaling_metric="memory",
        autoscaling_target=256,
        min_scale=2,
        max_scale=0,
        scale_down_delay=None,
        env={"LOG_LEVEL": "DEBUG"},
        cpu_request="250m",
        cpu_limit="1",
        memory_request="256Mi",
        memory_limit="1Gi",
        istio_sidecar=True,
    )
    return [base, dataclasses.replace(base, traffic=canary), hpa]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_in_process_overlay_matches_kustomize(index: int, tmp_path: Path) -> None:
    config = fixed_configs()[index]
    write_tree(config, tmp_path)
    # One kustomize run builds every overlay: their namespaces keep the objects apart.
    overlays = [f"overlays/{env}" for env in ENVIRONMENTS]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({"resources": overlays}))
    done = subprocess.run(
        [*kustomize_command(), str(tmp_path)], capture_output=True, text=True, check=True
    )
    built = {d["metadata"]["namespace"]: d for d in yaml.safe_load_all(done.stdout)}
    assert built == {f"apps-{env}": apply_overlay(config, env) for env in ENVIRONMENTS}


def test_project_overlays_accept_generated_bases(tmp_path: Path) -> None:
    """The project's real overlays, built by kustomize, on a changed base Service."""
    base = deserialize_knative_service(BASE_SERVICE.read_text(encoding="utf-8"))
    shutil.copytree(PROJECT_ROOT / "deployments", tmp_path / "deployments")
    variant = dataclasses.replace(
        base,
        autoscaling_target=7.5,
        container_concurrency=0,
        timeout_seconds=600,
        env={"FEATURE_FLAG": "on"},
    )
    (tmp_path / "deployments/knative/base/service.yaml").write_text(
        serialize_knative_service(variant)
    )
    report = validate_tree(tmp_path)
    assert report.ok, "\n".join(map(str, report.violations))


# --- Property 5: ApplicationSet ------------------------------------------------------------


def project_argocd() -> tuple[dict[str, Any], dict[str, Any]]:
    """The fixture service's ApplicationSet and AppProject."""
    docs: list[dict[str, Any]] = []
    for path in sorted((PROJECT_ROOT / "deployments" / "argocd").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    (appset,) = [d for d in docs if d["kind"] == "ApplicationSet"]
    (project,) = [d for d in docs if d["kind"] == "AppProject"]
    return appset, project


def with_environments(
    appset: dict[str, Any], project: dict[str, Any], envs: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ApplicationSet/AppProject pair re-targeted at ``envs`` (first element as pattern)."""
    appset, project = copy.deepcopy(appset), copy.deepcopy(project)
    generator = appset["spec"]["generators"][0]["list"]
    pattern = generator["elements"][0]
    old = pattern["env"]

    def swap(value: Any, env: str) -> Any:
        return value.replace(old, env) if isinstance(value, str) else value

    generator["elements"] = [{k: swap(v, env) for k, v in pattern.items()} for env in envs]
    destination = next(
        d for d in project["spec"]["destinations"] if str(d.get("namespace", "")).endswith(old)
    )
    project["spec"]["destinations"] = [
        {k: swap(v, env) for k, v in destination.items()} for env in envs
    ]
    return appset, project


@given(st.lists(segments, min_size=1, max_size=6, unique=True))
@settings(max_examples=100, deadline=None)
def test_property_5_applicationset_generates_valid_applications(envs: list[str]) -> None:
    """
    **Feature: knative-serverless-support, Property 5: ArgoCD ApplicationSet Generation**
    **Validates: Requirements 6.4, 6.5**
    """
    base_appset, base_project = project_argocd()
    appset, project = with_environments(base_appset, base_project, envs)
    applications = generate_applications(appset)
    names = [a["metadata"]["name"] for a in applications]
    assert len(applications) == len(envs)
    assert len(set(names)) == len(names)
    literal_project = appset["spec"]["template"]["spec"]["project"]
    for application, element in zip(
        applications, appset["spec"]["generators"][0]["list"]["elements"], strict=True
    ):
        name = application["metadata"]["name"]
        assert is_dns1123_subdomain(name)
        assert len(name) <= c.ARGOCD_INSTANCE_LABEL_MAX_LENGTH
        assert element["env"] in name
        spec = application["spec"]
        assert spec["project"] == literal_project
        destination = spec["destination"]
        assert bool(destination.get("server")) != bool(destination.get("name"))
        assert destination["namespace"].endswith(element["env"])
        assert spec["source"]["path"].endswith("/" + element["env"])
        assert "{" + "{" not in yaml.safe_dump(application)
    assert check_documents([appset, project]) == []


def test_property_5_paths_exist_for_the_rendered_environments() -> None:
    appset, _project = project_argocd()
    for application in generate_applications(appset):
        path = PROJECT_ROOT / application["spec"]["source"]["path"]
        assert (path / "kustomization.yaml").is_file()


# --- Property 9: autoscaling annotations ---------------------------------------------------


@given(service_configs(with_traffic=False))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_9_autoscaling_annotations(config: KnativeServiceConfig) -> None:
    """
    **Feature: knative-serverless-support, Property 9: Autoscaling Annotation Generation**
    **Validates: Requirements 2.3**
    """
    manifest = service_to_manifest(config)
    annotations = manifest["spec"]["template"]["metadata"]["annotations"]
    short = class_short_name(config.autoscaling_class)
    assert annotations[c.ANNOTATION_CLASS] == c.AUTOSCALING_CLASSES[short]
    assert annotations[c.ANNOTATION_METRIC] in c.METRICS_FOR_CLASS[short]
    if config.autoscaling_target is None:  # the cluster's default target applies
        assert c.ANNOTATION_TARGET not in annotations
    else:
        assert float(annotations[c.ANNOTATION_TARGET]) == config.autoscaling_target
        assert annotations[c.ANNOTATION_TARGET] == format_number(config.autoscaling_target)
    assert annotations[c.ANNOTATION_MIN_SCALE] == str(config.min_scale)
    assert annotations[c.ANNOTATION_MAX_SCALE] == str(config.max_scale)
    assert all(isinstance(v, str) for v in annotations.values())
    assert not any(
        k.startswith(c.AUTOSCALING_PREFIX) for k in manifest["metadata"].get("annotations", {})
    )
    assert [v for v in check_documents([manifest]) if v.rule.startswith("autoscaling/")] == []


@given(
    st.sampled_from(sorted(c.AUTOSCALING_CLASSES)),
    st.sampled_from(["concurrency", "rps", "cpu", "memory", "latency"]),
)
@settings(max_examples=100, deadline=None)
def test_property_9_metric_must_fit_the_class(short: str, metric: str) -> None:
    """
    **Feature: knative-serverless-support, Property 9: Autoscaling Annotation Generation**
    **Validates: Requirements 2.3**
    """
    kwargs: dict[str, Any] = {
        "name": "app",
        "image": APP_IMAGE,
        "autoscaling_class": short,
        "autoscaling_metric": metric,
        "autoscaling_target": 50,
        "min_scale": 1,
        **REQUIRED_SETTINGS,
    }
    if metric in c.METRICS_FOR_CLASS[short]:
        assert KnativeServiceConfig(**kwargs).autoscaling_metric == metric
    else:
        with pytest.raises(InvalidAutoscalingConfigError, match="metric-for-class"):
            KnativeServiceConfig(**kwargs)
