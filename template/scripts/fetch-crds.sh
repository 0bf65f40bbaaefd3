#!/usr/bin/env bash
# Download the upstream CustomResourceDefinitions this service is validated against,
# pinned to the versions the cluster runs (Knative 1.15, Argo CD 3.0, Istio 1.22), into
# a cache directory (default .crds/, git-ignored). `make validate` and CI pass that
# directory to the `validate` command (`--crds .crds`).
#
# Usage: scripts/fetch-crds.sh [DEST]      (FORCE=1 re-downloads an existing cache;
#        CRDS_BASE_URL replaces https://raw.githubusercontent.com, e.g. for a mirror)
#
# Everything lands in a temporary directory first and is moved into place only when every
# download succeeded: a failed run never leaves a half-filled cache behind.
set -euo pipefail

dest="${1:-.crds}"
raw="${CRDS_BASE_URL:-https://raw.githubusercontent.com}"

# folder | upstream repository | tag | path in the repository | file name in the cache
sources="
knative-serving-1.15|knative/serving|knative-v1.15.3|config/core/300-resources/service.yaml|service.yaml
knative-serving-1.15|knative/serving|knative-v1.15.3|config/core/300-resources/configuration.yaml|configuration.yaml
knative-serving-1.15|knative/serving|knative-v1.15.3|config/core/300-resources/route.yaml|route.yaml
knative-serving-1.15|knative/serving|knative-v1.15.3|config/core/300-resources/revision.yaml|revision.yaml
knative-eventing-1.15|knative/eventing|knative-v1.15.5|config/core/resources/broker.yaml|broker.yaml
knative-eventing-1.15|knative/eventing|knative-v1.15.5|config/core/resources/trigger.yaml|trigger.yaml
knative-eventing-1.15|knative/eventing|knative-v1.15.5|config/core/resources/sinkbindings.yaml|sinkbindings.yaml
knative-eventing-1.15|knative/eventing|knative-v1.15.5|config/core/resources/eventtype.yaml|eventtype.yaml
knative-kafka-1.15|knative-extensions/eventing-kafka-broker|knative-v1.15.8|control-plane/config/eventing-kafka-broker/100-source/100-kafka-source.yaml|kafka-source.yaml
knative-rabbitmq-1.15|knative-extensions/eventing-rabbitmq|knative-v1.15.0|config/broker/300-rabbitmqbrokerconfig.yaml|rabbitmqbrokerconfig.yaml
argo-cd-3.0|argoproj/argo-cd|v3.0.23|manifests/crds/application-crd.yaml|application-crd.yaml
argo-cd-3.0|argoproj/argo-cd|v3.0.23|manifests/crds/applicationset-crd.yaml|applicationset-crd.yaml
argo-cd-3.0|argoproj/argo-cd|v3.0.23|manifests/crds/appproject-crd.yaml|appproject-crd.yaml
istio-1.22|istio/istio|1.22.8|manifests/charts/base/crds/crd-all.gen.yaml|crds.yaml
"

if [ -d "$dest" ] && [ -z "${FORCE:-}" ]; then
    echo "CRDs already in $dest (FORCE=1 $0 $dest to download again)"
    exit 0
fi

command -v curl >/dev/null || { echo "fetch-crds: curl is required" >&2; exit 1; }

parent="$(dirname "$dest")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.crds-download.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

count=0
while IFS='|' read -r folder repo tag path name; do
    [ -n "$folder" ] || continue
    url="$raw/$repo/$tag/$path"
    mkdir -p "$tmp/$folder"
    if ! curl --fail --silent --show-error --location --retry 3 --max-time 60 \
        --output "$tmp/$folder/$name" "$url"; then
        echo "fetch-crds: could not download $url" >&2
        exit 1
    fi
    count=$((count + 1))
done <<< "$sources"

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "fetched $count CRD files into $dest"
