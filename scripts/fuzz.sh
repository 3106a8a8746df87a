#!/usr/bin/env bash
# Runs corelog's fuzz targets (fuzz/: cargo-fuzz with libFuzzer) for a
# bounded time each, starting from the seed corpora in fuzz/corpus/, and
# fails if any target crashes (a panic, an allocation over the limit below,
# a hang). Installs cargo-fuzz when it is missing.
#
#   scripts/fuzz.sh              every target for 8 seconds (the test run)
#   scripts/fuzz.sh 600          every target for 600 seconds (the long run)
#   scripts/fuzz.sh 60 record_batch metadata_log    some targets only
#
# New inputs a run finds go to fuzz/target/corpus/<target> (not committed;
# a later run starts from them too). A crash leaves its input in
# fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>
# and add a regression test with that input before fixing the cause; keep
# the input in fuzz/regressions/<target>/ too, where every run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-8}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(request_decode record_batch metadata_log segment_recovery)
fi

cargo_fuzz_version="0.13.2"
if ! cargo fuzz --version 2>/dev/null | grep -q " $cargo_fuzz_version"; then
  echo "scripts/fuzz.sh: installing cargo-fuzz $cargo_fuzz_version"
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi

# libFuzzer's coverage instrumentation takes flags stable rustc only accepts
# with RUSTC_BOOTSTRAP set; no sanitizer (-s none) keeps it to stable Rust.
# The build keeps debug assertions and overflow checks on.
export RUSTC_BOOTSTRAP=1
mkdir -p fuzz/target
if ! cargo fuzz build -s none >fuzz/target/build.log 2>&1; then
  tail -n 40 fuzz/target/build.log >&2
  echo "scripts/fuzz.sh: building the fuzz targets failed" >&2
  exit 1
fi

# Per input: 10 s before it counts as a hang, and no single allocation over
# 256 MiB (the largest honest one is a 32 MiB decompressed batch's buffer
# growing to 64 MiB); a larger one is an allocation the input controls.
libfuzzer_flags=(
  "-max_total_time=$seconds"
  -timeout=10
  -malloc_limit_mb=256
  -rss_limit_mb=2048
  -print_final_stats=1
)

failed=()
for target in "${targets[@]}"; do
  work="fuzz/target/corpus/$target"
  log="fuzz/target/$target.log"
  mkdir -p "$work" "fuzz/corpus/$target"
  # Inputs that crashed once (fuzz/regressions/<target>) run first, with
  # the seeds: libFuzzer executes every corpus input before mutating.
  corpora=("$work" "fuzz/corpus/$target")
  if [ -d "fuzz/regressions/$target" ]; then
    corpora+=("fuzz/regressions/$target")
  fi
  started=$(date +%s)
  if nice cargo fuzz run -s none "$target" "${corpora[@]}" -- "${libfuzzer_flags[@]}" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    echo "scripts/fuzz.sh: $target: no crash in $(($(date +%s) - started)) s, $runs inputs, $coverage"
  else
    failed+=("$target")
    echo "scripts/fuzz.sh: $target: CRASH (full log: $log)" >&2
    grep -v '^#[0-9]' "$log" | tail -n 40 >&2
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "scripts/fuzz.sh: crashed: ${failed[*]}; inputs in fuzz/artifacts/" >&2
  exit 1
fi
