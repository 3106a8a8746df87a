#!/usr/bin/env bash
# librdkafka's own test suite against corelog.
#
# Builds the tests/ of Debian's librdkafka source package (once; the build is
# cached outside the repository), starts the release broker (2 shards,
# num.partitions 4 as the suite's default scenario assumes) on ephemeral
# loopback ports with a temp data dir, runs each test of
# tests/librdkafka/expected-pass.txt and tests/librdkafka/known-failures.txt
# in its own test-runner process (`-Q -E -L`: quick mode, no socket-mocking
# tests, no broker-less tests; TEST_KAFKA_VERSION=3.9.0), reads each run's
# SUMMARY table and fails if an expected test did not pass. A test listed with
# the scenario "noautocreate" runs against a second broker with
# auto.create.topics.enable=false. Tests in tests/librdkafka/not-applicable.txt
# are not run (each line says why).
#
# One process per test because the runner stops the whole run when one test
# fails ("N thread(s) still active", exit 134) or times out (it kills itself,
# exit 137), which would hide every test after it; and its exit code says
# nothing about which test failed, so only the test's SUMMARY row is trusted.
# An expected test that fails is run once more, alone; passing then, it is
# named in a NOTE line (both runs' output kept); failing twice fails the run.
#
#   scripts/librdkafka-suite.sh              # build if needed, run the lists
#   scripts/librdkafka-suite.sh 0092 0101    # just these test numbers
#
# Environment:
#   LIBRDKAFKA_SUITE_CACHE  where the source and build are kept
#                           (default ~/.cache/corelog-librdkafka-suite)
#   LIBRDKAFKA_SUITE_JOBS   tests run at once (default 3)
#   LIBRDKAFKA_SUITE_KEEP   1: keep the run's logs and broker data dirs
#                           (kept anyway when a test failed)
#   CORELOG_BIN             the broker (default target/release/corelog)
#   LIBRDKAFKA_SUITE_HOSTS  N (root only): run each scenario against a
#                           scripts/cluster.sh cluster of N hosts, one shard
#                           each, default.replication.factor min(N, 3),
#                           instead of one 2-shard broker (scripts/test.sh
#                           runs it with 3 as root; see docs/REPLICATION-FAULTS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
repository=$PWD

cache=${LIBRDKAFKA_SUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corelog-librdkafka-suite}
jobs=${LIBRDKAFKA_SUITE_JOBS:-3}
hosts=${LIBRDKAFKA_SUITE_HOSTS:-}
corelog=${CORELOG_BIN:-$repository/target/release/corelog}
# The broker version the tests assume: it decides which APIs they expect
# (test.c skips tests whose minimum version is higher).
kafka_version=3.9.0
# Outer bound on one test process; the runner's own per-test timeout (30 s to
# a few minutes, scaled by CI mode) normally ends a stuck test first.
test_timeout_seconds=600

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
say() { echo "librdkafka-suite: $*"; }

# ---------------------------------------------------------------- build ----

build_suite() {
  local started=$SECONDS
  say "building librdkafka's tests from Debian's source package into $cache"
  # apt-get source needs a deb-src entry; the machine's own release, so the
  # package matches the librdkafka1 that scripts/test.sh installs.
  if ! apt-cache showsrc librdkafka 2>/dev/null | grep -q '^Package: librdkafka'; then
    local codename
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    say "adding a deb-src entry for Debian $codename"
    as_root tee /etc/apt/sources.list.d/corelog-deb-src.sources >/dev/null <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  as_root apt-get update -qq
  # The package's Build-Depends without debhelper (only the library and its
  # tests are built, not the .deb), plus dpkg-dev for apt-get source.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
    dpkg-dev gcc g++ make python3 pkg-config \
    liblz4-dev libsasl2-dev libssl-dev libzstd-dev rapidjson-dev zlib1g-dev >/dev/null

  rm -rf "$cache"
  mkdir -p "$cache/download"
  (cd "$cache/download" && apt-get source -qq librdkafka 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  local source
  source=$(find "$cache/download" -mindepth 1 -maxdepth 1 -type d -name 'librdkafka-*' | head -n 1)
  [ -n "$source" ] || { say "apt-get source librdkafka left no source directory"; exit 1; }
  mv "$source" "$cache/source"
  rm -rf "$cache/download"
  # Chained with &&: inside a command tested by ||, set -e does not stop a
  # failed step.
  (
    cd "$cache/source" &&
      ./configure >"$cache/configure.log" 2>&1 &&
      nice make -j2 libs >"$cache/make-libs.log" 2>&1 &&
      nice make -j2 -C tests test-runner >"$cache/make-tests.log" 2>&1
  ) || { say "build failed; logs in $cache/*.log"; exit 1; }
  dpkg-parsechangelog -l "$cache/source/debian/changelog" -S Version >"$cache/built"
  say "built librdkafka $(cat "$cache/built") tests in $((SECONDS - started)) s"
}

if [ ! -s "$cache/built" ] || [ ! -x "$cache/source/tests/test-runner" ]; then
  build_suite
fi
runner=$cache/source/tests/test-runner
say "librdkafka $(cat "$cache/built") (Debian source package), broker version $kafka_version"

# ------------------------------------------------------------ test lists ----

# Lines "NNNN_name [scenario]" (the runner's test name; the scenario is
# "default" unless named), '#' starts a comment. Entries are NAME@SCENARIO.
read_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1" | awk '{print $1 "@" ($2 == "" ? "default" : $2)}'
}

expected=$(read_list tests/librdkafka/expected-pass.txt)
if [ -n "$hosts" ]; then
  # Tests that need replicas on several brokers run against a cluster only.
  expected=$(printf '%s\n%s\n' "$expected" "$(read_list tests/librdkafka/expected-pass-cluster.txt)" | sed '/^$/d')
fi
known=$(read_list tests/librdkafka/known-failures.txt)
if [ $# -gt 0 ]; then
  selected=$(for number in "$@"; do printf '%s\n%s\n' "$expected" "$known" | grep "^${number}_" || say "no test $number in the lists" >&2; done)
else
  selected=$(printf '%s\n%s\n' "$expected" "$known" | sed '/^$/d')
fi
[ -n "$selected" ] || { say "nothing to run"; exit 1; }

# --------------------------------------------------------------- brokers ----

if [ ! -x "$corelog" ]; then
  say "building the broker (cargo build --release)"
  cargo build --release
fi

run_dir=$(mktemp -d /tmp/corelog-librdkafka-suite.XXXXXX)
broker_pids=()
clusters=()
finish() {
  local pid cluster
  for cluster in "${clusters[@]}"; do
    CORELOG_CLUSTER_DIR=$cluster bash "$repository/scripts/cluster.sh" down >/dev/null 2>&1 || true
  done
  for pid in "${broker_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${LIBRDKAFKA_SUITE_KEEP:-0}" = 1 ]; then
    say "logs and data kept in $run_dir"
  else
    rm -rf "$run_dir"
  fi
}
trap finish EXIT

# One broker per scenario the selected tests need, each with the broker
# configuration that scenario of the suite assumes:
#   default       auto.create.topics.enable=true, num.partitions=4
#   noautocreate  auto.create.topics.enable=false
start_broker() {
  local scenario=$1 extra=()
  case "$scenario" in
    default) extra=(--auto-create-topics true) ;;
    noautocreate) extra=(--auto-create-topics false) ;;
    *) say "unknown scenario $scenario"; exit 1 ;;
  esac
  local dir=$run_dir/broker-$scenario
  mkdir -p "$dir"
  if [ -n "$hosts" ]; then
    start_cluster "$scenario" "$dir" "${extra[@]}"
    return
  fi
  "$corelog" serve --data-dir "$dir/data" --listen 127.0.0.1:0 --advertise 127.0.0.1 \
    --cores 2 --num-partitions 4 "${extra[@]}" >"$dir/stdout.log" 2>"$dir/broker.log" &
  local pid=$!
  broker_pids+=("$pid")
  # The broker prints "corelog: node N listening on HOST:PORT" per shard,
  # then "corelog: ready"; the first node is the bootstrap server.
  for _ in $(seq 300); do
    grep -q '^corelog: ready' "$dir/stdout.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  local bootstrap
  bootstrap=$(sed -n 's/^corelog: node 0 listening on //p' "$dir/stdout.log")
  if ! grep -q '^corelog: ready' "$dir/stdout.log" || [ -z "$bootstrap" ]; then
    say "the broker for scenario $scenario did not start:"
    cat "$dir/broker.log"
    exit 1
  fi
  echo "bootstrap.servers=$bootstrap" >"$dir/test.conf"
  say "scenario $scenario: corelog with 2 shards, bootstrap $bootstrap"
}
# A cluster of $hosts hosts for one scenario (its own namespaces, names and
# subnet per scenario); host logs stay in its directory as broker logs.
start_cluster() {
  local scenario=$1 dir=$2
  shift 2
  local replicas=$((hosts < 3 ? hosts : 3))
  local number=$((${#clusters[@]} + 1))
  clusters+=("$dir/cluster")
  local bootstrap
  bootstrap=$(CORELOG_BIN=$corelog CORELOG_CLUSTER_DIR=$dir/cluster \
    CORELOG_CLUSTER_NAME=rdk$number CORELOG_CLUSTER_SUBNET=10.79.$number \
    CORELOG_CLUSTER_EXTRA="--num-partitions 4 --default-replication-factor $replicas $*" \
    bash "$repository/scripts/cluster.sh" up "$hosts" --cores 1 | tail -n 1) || {
    say "the cluster for scenario $scenario did not start"
    cat "$dir"/cluster/host*.log 2>/dev/null | tail -n 40
    exit 1
  }
  ln -sf cluster/host0.log "$dir/broker.log"
  echo "bootstrap.servers=$bootstrap" >"$dir/test.conf"
  say "scenario $scenario: corelog cluster of $hosts hosts, $replicas replicas, bootstrap $bootstrap"
}
for scenario in $(echo "$selected" | sed 's/.*@//' | sort -u); do
  start_broker "$scenario"
done

# Test 0053 reads ../src/statistics_schema.json relative to its working
# directory, as if run from the source's tests/.
mkdir -p "$run_dir/tests"
ln -s "$cache/source/src" "$run_dir/tests/src"

# ----------------------------------------------------------------- tests ----

# One test in its own runner process and directory (the runner writes its
# stats files into the working directory). This is run-test.sh's "bare" mode
# without the script: the same binary, arguments and library path. CI=true
# always, so that a run here and one in CI behave alike: the runner then
# allows for a loaded machine (longer timeouts, timing checks that warn).
run_one() {
  local entry=$1
  local name=${entry%@*} scenario=${entry#*@}
  local number=${name%%_*}
  local dir=$run_dir/tests/$name@$scenario
  mkdir -p "$dir"
  local started=$SECONDS
  (
    cd "$dir"
    CI=true TESTS=$number TEST_KAFKA_VERSION=$kafka_version \
      RDKAFKA_TEST_CONF=$run_dir/broker-$scenario/test.conf \
      LD_LIBRARY_PATH=$cache/source/src:$cache/source/src-cpp \
      timeout --kill-after=10 "$test_timeout_seconds" \
      "$runner" -Q -E -L -s "$scenario" >"$dir/output.log" 2>&1
    echo $? >"$dir/exit"
  ) 2>>"$dir/shell.log" || true
  # The runner's SUMMARY row for this test: "| NNNN_name | PASSED | 1.2s | reason".
  local row state
  row=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/output.log" | grep -E "^\| ${name} +\|" | tail -n 1 || true)
  state=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $3); print $3}')
  [ -n "$state" ] || state="NO-SUMMARY(exit $(cat "$dir/exit"))"
  echo "$state" >"$dir/state"
  printf 'librdkafka-suite: %-50s %-10s %4d s\n' "$name ($scenario)" "$state" $((SECONDS - started))
}

run_started=$SECONDS
test_pids=()
running_tests() {
  local count=0 pid
  for pid in "${test_pids[@]}"; do kill -0 "$pid" 2>/dev/null && count=$((count + 1)); done
  echo "$count"
}
for entry in $selected; do
  while [ "$(running_tests)" -ge "$jobs" ]; do sleep 0.5; done
  run_one "$entry" &
  test_pids+=($!)
done
wait "${test_pids[@]}" || true

# An expected test that failed runs once more, alone: a few of these tests
# race their own client threads on a loaded 2-core machine (0050 failed
# once in a CI run and passed in every run before and since). Its first
# run's output stays beside the second's, and the verdict names it, so a
# test that only passes on its second run is seen, not hidden; one that
# fails twice fails the suite.
second_runs=()
for entry in $expected; do
  echo "$selected" | grep -qx "$entry" || continue
  [ "$(cat "$run_dir/tests/$entry/state" 2>/dev/null)" = PASSED ] && continue
  mv "$run_dir/tests/$entry" "$run_dir/tests/$entry.first-run"
  say "$entry failed ($(cat "$run_dir/tests/$entry.first-run/state" 2>/dev/null || echo NOT-RUN)): running it once more, alone"
  run_one "$entry"
  second_runs+=("$entry")
done
run_seconds=$((SECONDS - run_started))

# ---------------------------------------------------------------- verdict ----

state_of() { cat "$run_dir/tests/$1/state" 2>/dev/null || echo "NOT-RUN"; }
failed=()
passed=0
for entry in $expected; do
  echo "$selected" | grep -qx "$entry" || continue
  if [ "$(state_of "$entry")" = PASSED ]; then passed=$((passed + 1)); else failed+=("$entry"); fi
done
for entry in $known; do
  echo "$selected" | grep -qx "$entry" || continue
  if [ "$(state_of "$entry")" = PASSED ]; then
    say "$entry is listed in tests/librdkafka/known-failures.txt but passed: move it to expected-pass.txt"
  else
    say "$entry: still a known failure ($(state_of "$entry"))"
  fi
done
for entry in "${failed[@]}"; do
  say "FAILED $entry ($(state_of "$entry")); its output:"
  sed 's/\x1b\[[0-9;]*m//g' "$run_dir/tests/$entry/output.log" | grep -E 'FAIL|failed|Error|error|SKIP' | head -n 20 | sed 's/^/    /' || true
done
for entry in "${second_runs[@]}"; do
  if [ "$(state_of "$entry")" = PASSED ]; then
    say "NOTE $entry failed its first run and passed its second; first run's output: $run_dir/tests/$entry.first-run/output.log"
    LIBRDKAFKA_SUITE_KEEP=1
  fi
done
say "tests ran in $run_seconds s, $jobs at once"
if [ ${#failed[@]} -gt 0 ]; then
  LIBRDKAFKA_SUITE_KEEP=1
  say "broker logs: $run_dir/broker-*/broker.log; test output: $run_dir/tests/<name>@<scenario>/output.log"
fi
echo "librdkafka-suite: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
