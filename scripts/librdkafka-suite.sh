#!/usr/bin/env bash
# librdkafka's own test suite against corelog.
#
# Builds the tests/ of Debian's librdkafka source package (once; the build is
# cached outside the repository), starts the release broker (2 shards,
# num.partitions 4 as the suite's default scenario assumes) on ephemeral
# loopback ports with a temp data dir, runs each test of
# tests/librdkafka/expected-pass.txt and tests/librdkafka/known-failures.txt
# in its own test-runner process, reads each run's SUMMARY table and fails if
# an expected test did not pass. Tests in tests/librdkafka/not-applicable.txt
# are not run (each line says why).
#
# One process per test because the runner stops the whole run when one test
# fails ("N thread(s) still active", exit 134) or times out (it kills itself,
# exit 137), which would hide every test after it; and the exit code says
# nothing about which test failed, so only the SUMMARY row is trusted.
#
#   scripts/librdkafka-suite.sh              # build if needed, run the lists
#   scripts/librdkafka-suite.sh 0092 0101    # run just these test numbers
#
# Environment:
#   LIBRDKAFKA_SUITE_CACHE  where the source and build are kept
#                           (default ~/.cache/corelog-librdkafka-suite)
#   LIBRDKAFKA_SUITE_JOBS   tests run at once (default 3)
#   LIBRDKAFKA_SUITE_KEEP   1: keep the run's logs and broker data dir
#   CORELOG_BIN             the broker (default target/release/corelog)
set -euo pipefail
cd "$(dirname "$0")/.."
repository=$PWD

cache=${LIBRDKAFKA_SUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corelog-librdkafka-suite}
jobs=${LIBRDKAFKA_SUITE_JOBS:-3}
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
  (
    cd "$cache/source"
    ./configure >"$cache/configure.log" 2>&1
    nice make -j2 libs >"$cache/make-libs.log" 2>&1
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

# Lines "NNNN_name" (the runner's test name), '#' starts a comment.
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1" | awk '{print $1}'; }

expected=$(read_list tests/librdkafka/expected-pass.txt)
known=$(read_list tests/librdkafka/known-failures.txt)
if [ $# -gt 0 ]; then
  selected=$(for number in "$@"; do echo "$expected"$'\n'"$known" | grep "^${number}_" || say "no test $number in the lists" >&2; done)
else
  selected=$(printf '%s\n%s\n' "$expected" "$known" | sed '/^$/d')
fi
[ -n "$selected" ] || { say "nothing to run"; exit 1; }

# ---------------------------------------------------------------- broker ----

if [ ! -x "$corelog" ]; then
  say "building the broker (cargo build --release)"
  cargo build --release
fi

run_dir=$(mktemp -d /tmp/corelog-librdkafka-suite.XXXXXX)
broker_pid=
finish() {
  if [ -n "$broker_pid" ]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  if [ "${LIBRDKAFKA_SUITE_KEEP:-0}" = 1 ]; then
    say "logs and data kept in $run_dir"
  else
    rm -rf "$run_dir"
  fi
}
trap finish EXIT

"$corelog" serve --data-dir "$run_dir/data" --listen 127.0.0.1:0 --advertise 127.0.0.1 \
  --cores 2 --num-partitions 4 >"$run_dir/broker.stdout" 2>"$run_dir/broker.log" &
broker_pid=$!
# The broker prints "corelog: node N listening on HOST:PORT" per shard, then
# "corelog: ready"; the first node is the bootstrap server.
for _ in $(seq 300); do
  grep -q '^corelog: ready' "$run_dir/broker.stdout" && break
  kill -0 "$broker_pid" 2>/dev/null || break
  sleep 0.1
done
bootstrap=$(sed -n 's/^corelog: node 0 listening on //p' "$run_dir/broker.stdout")
if ! grep -q '^corelog: ready' "$run_dir/broker.stdout" || [ -z "$bootstrap" ]; then
  say "the broker did not start:"
  cat "$run_dir/broker.log"
  exit 1
fi
say "corelog 2 shards, bootstrap $bootstrap, $jobs tests at once"

# Test 0053 reads ../src/statistics_schema.json relative to its working
# directory, as if run from the source's tests/.
mkdir -p "$run_dir/tests"
ln -s "$cache/source/src" "$run_dir/tests/src"

cat >"$run_dir/test.conf" <<EOF
bootstrap.servers=$bootstrap
EOF

# ----------------------------------------------------------------- tests ----

# One test in its own runner process and directory (the runner writes its
# stats files into the working directory). This is run-test.sh's "bare" mode
# without the script: the same binary, arguments and library path.
run_one() {
  local name=$1 number=${1%%_*}
  local dir=$run_dir/tests/$name
  mkdir -p "$dir"
  local started=$SECONDS
  (
    cd "$dir"
    CI=true TESTS=$number TEST_KAFKA_VERSION=$kafka_version \
      RDKAFKA_TEST_CONF=$run_dir/test.conf \
      LD_LIBRARY_PATH=$cache/source/src:$cache/source/src-cpp \
      timeout --kill-after=10 "$test_timeout_seconds" "$runner" -Q -E -L >"$dir/output.log" 2>&1
    echo $? >"$dir/exit"
  ) 2>>"$dir/shell.log" || true
  # The runner's SUMMARY row for this test: "| NNNN_name | PASSED | 1.2s | reason".
  local row state
  row=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/output.log" | grep -E "^\| ${name} +\|" | tail -n 1 || true)
  state=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $3); print $3}')
  [ -n "$state" ] || state="NO-SUMMARY(exit $(cat "$dir/exit"))"
  echo "$state" >"$dir/state"
  printf 'librdkafka-suite: %-40s %-10s %4d s\n' "$name" "$state" $((SECONDS - started))
}

run_started=$SECONDS
test_pids=()
running_tests() {
  local count=0 pid
  for pid in "${test_pids[@]}"; do kill -0 "$pid" 2>/dev/null && count=$((count + 1)); done
  echo "$count"
}
for name in $selected; do
  while [ "$(running_tests)" -ge "$jobs" ]; do sleep 0.5; done
  run_one "$name" &
  test_pids+=($!)
done
wait "${test_pids[@]}" || true
run_seconds=$((SECONDS - run_started))

# ---------------------------------------------------------------- verdict ----

state_of() { cat "$run_dir/tests/$1/state" 2>/dev/null || echo "NOT-RUN"; }
failed=()
passed=0
for name in $expected; do
  echo "$selected" | grep -qx "$name" || continue
  if [ "$(state_of "$name")" = PASSED ]; then passed=$((passed + 1)); else failed+=("$name"); fi
done
for name in $known; do
  echo "$selected" | grep -qx "$name" || continue
  if [ "$(state_of "$name")" = PASSED ]; then
    say "$name is listed in tests/librdkafka/known-failures.txt but passed: move it to expected-pass.txt"
  else
    say "$name: still a known failure ($(state_of "$name"))"
  fi
done
for name in "${failed[@]}"; do
  say "FAILED $name ($(state_of "$name")); its output:"
  sed 's/\x1b\[[0-9;]*m//g' "$run_dir/tests/$name/output.log" | grep -E 'FAIL|failed|Error|error|SKIP' | head -n 20 | sed 's/^/    /' || true
done
say "tests ran in $run_seconds s"
if [ ${#failed[@]} -gt 0 ]; then
  LIBRDKAFKA_SUITE_KEEP=1
  say "broker log: $run_dir/broker.log; test output: $run_dir/tests/<name>/output.log"
fi
echo "librdkafka suite: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
