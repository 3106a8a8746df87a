#!/usr/bin/env bash
# One command for the side-by-side benchmark: installs what it needs (fio and
# iperf3 from Debian, librdkafka for perf/loadgen, kafkajs for
# perf/kafkajs, and the peer broker Tansu from crates.io), builds corelog and
# the load generators, then runs perf/bench.py, which writes
# perf/results/<date>/ (results.md, results.json, throughput.svg,
# latency.svg). Needs 2 cores (broker on core 0, load on core 1) and root (to
# drop the page cache before the cold catch-up read).
#
#   scripts/bench.sh            # the full run (tens of minutes)
#   scripts/bench.sh --quick    # a tenth of the sizes
#   scripts/bench.sh --no-peer  # corelog only
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v fio >/dev/null || missing+=(fio)
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v taskset >/dev/null || missing+=(util-linux)
pkg-config --exists rdkafka 2>/dev/null || missing+=(librdkafka-dev pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --release
(cd perf/loadgen && cargo build --release)
(cd perf/kafkajs && npm ci --no-audit --no-fund --loglevel=error)

if [[ " $* " != *" --no-peer "* ]] && ! command -v tansu >/dev/null && [ ! -x /opt/tansu/bin/tansu ]; then
  echo "scripts/bench.sh: installing Tansu (cargo install tansu --features dynostore,libsql); this takes a while"
  cargo install tansu --features dynostore,libsql --root /opt/tansu --locked
fi

mkdir -p perf/results/tmp
exec python3 perf/bench.py "$@"
