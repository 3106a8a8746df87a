#!/usr/bin/env bash
# Installs everything the tests need (kcat and librdkafka from Debian, kafkajs
# from npm with its lockfile, the client matrix's Python, Node, Go and Rust
# clients), builds the broker and the librdkafka load
# generator (perf/loadgen) once in release mode, and runs every test:
# Rust unit and integration tests (which include kcat), the micro-benchmarks
# in quick mode, then the kafkajs suite.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# kcat for the tests; librdkafka's headers and pkg-config for perf/loadgen.
if ! command -v kcat >/dev/null 2>&1 || ! pkg-config --exists rdkafka 2>/dev/null; then
  echo "scripts/test.sh: installing kcat, librdkafka-dev and pkg-config (Debian packages)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq kcat librdkafka-dev pkg-config >/dev/null
fi
command -v ip >/dev/null 2>&1 || { as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq iproute2 >/dev/null; } # scripts/cluster.sh (tests/cluster.rs)
(cd tests/kafkajs && npm ci --no-audit --no-fund --loglevel=error)
# The client matrix (tests/client_matrix.rs): Python clients in a venv, Node
# clients with lockfiles, Debian's Go clients and the rdkafka crate.
bash scripts/install-clients.sh
sh scripts/install-go-clients.sh
(cd perf/kafkajs && npm ci --no-audit --no-fund --loglevel=error)

cargo build --release
# The host check, for the log: WARNs (governor, huge pages, NUMA) exit 0. A
# FAIL (say memlock or O_DIRECT on a CI runner's /tmp) is reported but not
# fatal here: it judges this host for production, not the build, and
# tests/check.rs asserts the check itself works.
check_dir="$(mktemp -d)"; ./target/release/corelog check --data-dir "$check_dir" || echo "scripts/test.sh: corelog check reported a FAIL (above); continuing, see the comment"; rm -rf "$check_dir"
(cd perf/loadgen && cargo build --release)
cargo test --release
# The micro-benchmarks in quick mode: compiled and exercised, not timed.
cargo test --release --bench hot_paths
# The vendored kafka-protocol's bounded-decoding regression tests (debug on
# purpose: one needs overflow checks), with corelog's features.
(cd third_party/kafka-protocol && cargo test --lib --no-default-features --features broker,client,gzip,snappy)
# cargo-fuzz targets, 8 s each, plus the saved regressions (scripts/fuzz.sh N: N s each).
scripts/fuzz.sh
# librdkafka's own test suite (Debian's source package, built once into ~/.cache).
scripts/librdkafka-suite.sh
# The same suite against a 3-host cluster (scripts/cluster.sh) with 3
# replicas per partition, about 3 minutes: the hosts need network
# namespaces, so root only.
if [ "$(id -u)" -eq 0 ]; then
  LIBRDKAFKA_SUITE_HOSTS=3 scripts/librdkafka-suite.sh
else
  echo "scripts/test.sh: not root: librdkafka's suite against a 3-host cluster NOT RUN"
fi
(cd tests/kafkajs && CORELOG_BIN="$PWD/../../target/release/corelog" npm test)
