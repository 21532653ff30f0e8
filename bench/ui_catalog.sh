#!/usr/bin/env bash
# Benchmark (not a test): how long the web UI takes to render the catalog page of a registry holding
# 2,000 repositories. The repositories are written straight into a registry:2 storage layout (one
# shared image, every repository tagged `v1`), then `wharf serve` with the UI embedded serves them and
# curl times GETs of the catalog: the first (nothing cached), then warm ones, a later page and a filter.
#
#   bench/ui_catalog.sh            # builds target/release/wharf if missing
#   N=10000 bench/ui_catalog.sh    # more repositories
#   WHARF=path/to/wharf bench/ui_catalog.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
RUNS=${RUNS:-5}
WHARF=${WHARF:-target/release/wharf}
[ -x "$WHARF" ] || cargo build --release --locked --bin wharf

root=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$root"
}
trap cleanup EXIT
v2="$root/docker/registry/v2"

# Writes stdin as a blob; prints its sha256 hex.
blob() {
    local tmp hex
    tmp=$(mktemp -p "$root")
    cat >"$tmp"
    hex=$(sha256sum "$tmp" | cut -d' ' -f1)
    mkdir -p "$v2/blobs/sha256/${hex:0:2}/$hex"
    mv "$tmp" "$v2/blobs/sha256/${hex:0:2}/$hex/data"
    echo "$hex"
}

config_json='{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":[]}}'
config=$(printf '%s' "$config_json" | blob)
layer=$(head -c 4096 /dev/urandom | blob)
manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":4096}]}' \
    "$config" "${#config_json}" "$layer" | blob)

echo "writing $N repositories under $root"
for i in $(seq 1 "$N"); do
    repo="$v2/repositories/team$((i % 40))/app$i"
    mkdir -p "$repo/_layers/sha256/$config" "$repo/_layers/sha256/$layer" \
        "$repo/_manifests/revisions/sha256/$manifest" \
        "$repo/_manifests/tags/v1/current" "$repo/_manifests/tags/v1/index/sha256/$manifest"
    printf 'sha256:%s' "$config" >"$repo/_layers/sha256/$config/link"
    printf 'sha256:%s' "$layer" >"$repo/_layers/sha256/$layer/link"
    printf 'sha256:%s' "$manifest" >"$repo/_manifests/revisions/sha256/$manifest/link"
    printf 'sha256:%s' "$manifest" >"$repo/_manifests/tags/v1/current/link"
    printf 'sha256:%s' "$manifest" >"$repo/_manifests/tags/v1/index/sha256/$manifest/link"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REGISTRY_HTTP_ADDR="127.0.0.1:$port" REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$root" \
    REGISTRY_UI_ENABLED=true REGISTRY_LOG_LEVEL=error "$WHARF" serve >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
    sleep 0.1
done

time_get() {
    curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$1"
}
echo "first GET /ui/ (nothing cached): $(time_get /ui/) s"
echo "the page says: $(curl -fs "http://127.0.0.1:$port/ui/" | grep -o "[0-9]* repositories; showing [^<]*")"
for path in /ui/ "/ui/?page=15" "/ui/?q=app19"; do
    times=$(for _ in $(seq 1 "$RUNS"); do time_get "$path"; echo; done | sort -n)
    echo "GET $path, $RUNS runs, sorted (s): $(echo $times)"
done
