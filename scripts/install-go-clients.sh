#!/bin/sh
# Installs and builds the client-matrix programs of four clients (issue 11):
#   sarama, kafka-go, confluent-kafka-go  - Debian's Go packages, built in
#       GOPATH mode against /usr/share/gocode (no module proxy, no network
#       beyond Debian);
#   rdkafka - the Rust crate with the librdkafka it bundles, compiled from
#       source (several minutes the first time), in its own cargo project
#       tests/clients/rdkafka with its own Cargo.lock and target directory.
# Idempotent: apt-get runs only when a package is missing, a Go program is
# rebuilt only when its source is newer, and cargo rebuilds nothing when
# nothing changed.
set -eu

root="$(cd "$(dirname "$0")/.." && pwd)"
clients="$root/tests/clients"

# golang-go: the Go toolchain (1.19 in bookworm); the three -dev packages put
# the client libraries and their dependencies under /usr/share/gocode;
# librdkafka-dev and pkg-config serve confluent-kafka-go's cgo binding;
# g++, make and zlib1g-dev build the rdkafka crate's bundled librdkafka.
packages="golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev
golang-github-confluentinc-confluent-kafka-go-dev librdkafka-dev pkg-config gcc g++ make zlib1g-dev"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=""
for package in $packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ]; then
    echo "install-go-clients: installing$missing"
    as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
fi

for package in golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev \
    golang-github-confluentinc-confluent-kafka-go-dev librdkafka-dev; do
    echo "install-go-clients: $package $(dpkg-query -W -f='${Version}' "$package")"
done

# GOPATH mode: imports resolve from Debian's /usr/share/gocode, nothing is
# downloaded. The Go build cache stays in the user's cache directory, or in
# target/ when there is no home directory (go refuses to build without one).
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
    export GOCACHE="$root/target/go-build-cache"
fi
# zstd's cgo wrapper calls a function zstd deprecated; its warning is noise.
for client in sarama kafka-go confluent-kafka-go; do
    source="$clients/$client/main.go"
    program="$clients/$client/build/$client-scenario"
    if [ -x "$program" ] && [ "$program" -nt "$source" ]; then
        echo "install-go-clients: $client is built"
        continue
    fi
    echo "install-go-clients: building $client"
    mkdir -p "$clients/$client/build"
    (cd "$clients/$client" &&
        GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
        CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" \
        go build -o "$program.partial" . &&
        mv "$program.partial" "$program")
done

echo "install-go-clients: building rdkafka (cargo; compiles librdkafka the first time)"
started=$(date +%s)
nice cargo build --release --locked \
    --manifest-path "$clients/rdkafka/Cargo.toml" \
    --target-dir "$clients/rdkafka/target"
echo "install-go-clients: rdkafka built in $(( $(date +%s) - started )) s"
