#!/usr/bin/env bash
# The cost of replication (issue 14): produce throughput to a topic with 3
# replicas and acks=all (min.insync.replicas=2) next to a topic with 1
# replica, on the same local 3-host cluster (scripts/cluster.sh, one shard
# per host), in the same run, rounds alternating so drift hits both alike.
# Writes perf/results/replication-<UTC date and time>.md with each round,
# the medians and their ratio (a ratio, not a target). Run as root.
#
#   perf/replication.sh [--rounds N] [--records N] [--record-bytes N] [--batch-records N] [--replicas N]
#
# --replicas (default 3) sets the replicated topic's factor; 1 checks the
# script itself on a build without replication (the ratio is then ~1).
# Client: `corelog bench produce` (one request in flight, partitions in
# turn), so the figures include each request's replication round trip.
# Environment: CORELOG_BIN (default target/release/corelog).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
records=200000
record_bytes=1024
batch_records=100
replicas=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --record-bytes) record_bytes=$2; shift 2 ;;
    --batch-records) batch_records=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
  esac
done

BIN=$(realpath "${CORELOG_BIN:-target/release/corelog}")
[ -x "$BIN" ] || { echo "perf/replication.sh: no binary at $BIN (cargo build --release)" >&2; exit 1; }
command -v jq >/dev/null || { echo "perf/replication.sh: needs jq" >&2; exit 1; }

export CORELOG_BIN=$BIN
export CORELOG_CLUSTER_DIR=${TMPDIR:-/tmp}/corelog-perf-replication
export CORELOG_CLUSTER_NAME=perfrep
export CORELOG_CLUSTER_SUBNET=10.78.0
cluster() { bash scripts/cluster.sh "$@"; }
trap 'cluster down >/dev/null 2>&1 || true' EXIT

bootstrap=$(cluster up 3 --cores 1 | tail -1)
echo "perf/replication.sh: cluster up, bootstrap $bootstrap"
"$BIN" topic create -b "$bootstrap" --partitions 3 -r 1 rf1
if ! "$BIN" topic create -b "$bootstrap" --partitions 3 -r "$replicas" -c min.insync.replicas=$((replicas < 2 ? replicas : 2)) rf3; then
  echo "perf/replication.sh: a topic with $replicas replicas was refused: is replication (issue 14) in this build?" >&2
  exit 1
fi
sleep 2

# One round: `corelog bench produce` on TOPIC, acks=all; prints records/s MB/s p99.
round() {
  "$BIN" bench -b "$bootstrap" --format json produce "$1" --records "$records" \
    --record-bytes "$record_bytes" --batch-records "$batch_records" --acks -1 |
    jq -r '[.records_per_second, .megabytes_per_second, (.latency.p99_ms // 0)] | @tsv'
}

declare -a rf1_rates rf3_rates rows
for ((index = 1; index <= rounds; index++)); do
  for topic in rf1 rf3; do
    read -r rate megabytes p99 < <(round "$topic")
    echo "round $index $topic: $rate records/s, $megabytes MB/s, p99 $p99 ms"
    rows+=("| $index | $topic | $(printf %.0f "$rate") | $(printf %.2f "$megabytes") | $p99 |")
    if [ "$topic" = rf1 ]; then rf1_rates+=("$rate"); else rf3_rates+=("$rate"); fi
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ values[NR] = $1 } END { print (NR % 2) ? values[(NR + 1) / 2] : (values[NR / 2] + values[NR / 2 + 1]) / 2 }'; }
rf1_median=$(median "${rf1_rates[@]}")
rf3_median=$(median "${rf3_rates[@]}")
ratio=$(awk -v a="$rf3_median" -v b="$rf1_median" 'BEGIN { printf "%.3f", a / b }')

mkdir -p perf/results
suffix=""; [ "$replicas" -eq 3 ] || suffix="-rf$replicas-script-check"
out="perf/results/replication-$(date -u +%Y-%m-%dT%H%M)$suffix.md"
{
  echo "# Replication cost: RF=3 acks=all vs RF=1, $(date -u +%FT%TZ)"
  echo
  echo "Machine: $(uname -srm), $(nproc) cores. Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Cluster: scripts/cluster.sh, 3 hosts x 1 shard, unpinned, on this one machine."
  echo "Topics: rf1 (3 partitions, 1 replica), rf3 (3 partitions, $replicas replicas, min.insync.replicas=$((replicas < 2 ? replicas : 2)))."
  echo "Client: corelog bench produce, $records records of $record_bytes B, $batch_records per batch, acks=all, one request in flight; $rounds rounds alternating."
  echo
  echo "| round | topic | records/s | MB/s | p99 ms |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Median records/s: RF=1 $(printf %.0f "$rf1_median"), RF=3 $(printf %.0f "$rf3_median")."
  echo
  echo "**RF=3 / RF=1 = $ratio**"
  echo
  echo "Command: perf/replication.sh --rounds $rounds --records $records --record-bytes $record_bytes --batch-records $batch_records --replicas $replicas"
} >"$out"
echo "perf/replication.sh: RF=3/RF=1 = $ratio, written to $out"
