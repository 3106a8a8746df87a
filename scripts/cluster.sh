#!/usr/bin/env bash
# A local corelog cluster on this machine: each host is one `corelog serve`
# in its own network namespace with its own address, joined to the others
# and to the root namespace by a veth pair into one bridge. Run as root.
#
#   scripts/cluster.sh up N [--cores C]   start hosts 0..N-1; last line: bootstrap list
#   scripts/cluster.sh down               stop every host, remove namespaces and bridge
#   scripts/cluster.sh kill H             SIGKILL host H (a crash)
#   scripts/cluster.sh start H            restart host H on its data, same flags
#   scripts/cluster.sh stop H | cont H    SIGSTOP / SIGCONT host H (a pause)
#   scripts/cluster.sh isolate H | heal   drop all of H's traffic / undo every isolation
#   scripts/cluster.sh bootstrap          the bootstrap list again
#   scripts/cluster.sh status             each host's state and the leader it knows
#
# Voters of the metadata quorum: every host up to 3, hosts 0..2 for 3 or 4
# hosts, 0..4 from 5 on; the others are learners. Host H's address is
# SUBNET.(H+1): Kafka shard i on port 9092+i (broker id H*1024+i), its Raft
# member on 9099. The bridge has SUBNET.254, so the root namespace reaches
# every host; isolating H sets the bridge end of its veth down, which drops
# its packets both ways (connections time out rather than being refused),
# while clients inside H's own namespace still reach it.
#
# Environment (read by `up`, kept in DIR/cluster.env for the later commands):
#   CORELOG_BIN            the binary (default ./target/release/corelog)
#   CORELOG_CLUSTER_DIR    state, data dirs DIR/hostH, logs DIR/hostH.log,
#                          pids DIR/hostH.pid (default /tmp/corelog-cluster)
#   CORELOG_CLUSTER_NAME   prefix of namespace, veth and bridge names, at most
#                          10 letters or digits (default cl)
#   CORELOG_CLUSTER_SUBNET the first three octets of the /24 (default 10.77.0)
#   CORELOG_CLUSTER_EXTRA  more `serve` flags for every host, e.g.
#                          "--broker-session-timeout-ms 3000"
#   CORELOG_CLUSTER_READY_TIMEOUT  seconds `up` and `start` wait for the
#                          ready line (default 60)
set -eEuo pipefail

KAFKA_PORT=9092
QUORUM_PORT=9099
HOSTS_MAX=32

usage() {
  echo 'usage:' >&2
  sed -n '6,13p' "$0" | sed 's/^#  //' >&2
  exit 2
}

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

DIR=$(realpath -m "${CORELOG_CLUSTER_DIR:-/tmp/corelog-cluster}")
[ "$DIR" != / ] || die "CORELOG_CLUSTER_DIR must not be /"
STATE="$DIR/cluster.env"

# The settings `up` was given, or the environment's before `up`.
load_state() {
  NAME=${CORELOG_CLUSTER_NAME:-cl}
  SUBNET=${CORELOG_CLUSTER_SUBNET:-10.77.0}
  if [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    . "$STATE"
  fi
}

require_state() {
  [ -f "$STATE" ] || die "no cluster in $DIR (run up first)"
  load_state
}

require_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, veth pairs, a bridge)"
}

namespace() { echo "${NAME}h$1"; }
veth_outside() { echo "${NAME}v$1"; }
bridge() { echo "${NAME}br"; }
address() { echo "$SUBNET.$(($1 + 1))"; }
log_file() { echo "$DIR/host$1.log"; }
pid_file() { echo "$DIR/host$1.pid"; }

voter_count() {
  if [ "$HOSTS" -ge 5 ]; then echo 5; elif [ "$HOSTS" -ge 3 ]; then echo 3; else echo "$HOSTS"; fi
}

voters() {
  local list="" host
  for ((host = 0; host < $(voter_count); host++)); do
    list+="${list:+,}$host@$(address "$host"):$QUORUM_PORT"
  done
  echo "$list"
}

bootstrap_list() {
  local list="" host
  for ((host = 0; host < HOSTS; host++)); do
    list+="${list:+,}$(address "$host"):$KAFKA_PORT"
  done
  echo "$list"
}

check_host_index() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] || usage
  [ "$1" -lt "$HOSTS" ] || die "no host $1 (hosts 0..$((HOSTS - 1)))"
}

# The pid of host H's process while it exists and is ours (not a reused pid).
host_pid() {
  local file pid
  file=$(pid_file "$1")
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--data-dir $DIR/host$1 " || return 1
  echo "$pid"
}

# running, stopped or dead (a zombie is dead: its listeners are gone).
process_state() {
  local pid state
  pid=$(host_pid "$1") || { echo dead; return; }
  state=$(sed 's/^[0-9]* (.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null) || { echo dead; return; }
  case "$state" in
    T | t) echo stopped ;;
    Z | X | x) echo dead ;;
    *) echo running ;;
  esac
}

# True while the bridge end of H's veth is administratively down.
is_isolated() {
  local flags
  flags=$(ip -o link show dev "$(veth_outside "$1")" 2>/dev/null) || return 1
  ! echo "$flags" | grep -qE '<([^>]*,)?UP[,>]'
}

# The serve command line of host H.
serve_arguments() {
  local host=$1 ip
  ip=$(address "$host")
  SERVE=(serve --listen "$ip:$KAFKA_PORT" --advertise "$ip" --data-dir "$DIR/host$host" --cores "$CORES"
    --node-id "$host" --controller-quorum-voters "$(voters)")
  if [ "$host" -ge "$(voter_count)" ]; then
    SERVE+=(--controller-listen "$ip:$QUORUM_PORT")
  fi
  # Several hosts share this machine's CPUs: pinning each host's shard i to
  # CPU i would stack every host's shards on the same CPUs.
  if [ "$UNPINNED_FLAG" != "" ]; then SERVE+=("$UNPINNED_FLAG"); fi
  # shellcheck disable=SC2206
  SERVE+=($EXTRA)
}

# Starts host H in its namespace, appending to its log; records where this
# start's output begins so waiting for ready skips earlier runs.
launch() {
  local host=$1 log
  log=$(log_file "$host")
  serve_arguments "$host"
  touch "$log"
  stat -c %s "$log" >"$DIR/host$host.from"
  echo "cluster.sh: $(date -u +%FT%TZ) host $host: $BIN ${SERVE[*]}" >>"$log"
  setsid ip netns exec "$(namespace "$host")" "$BIN" "${SERVE[@]}" </dev/null >>"$log" 2>&1 &
  echo $! >"$(pid_file "$host")"
}

since_launch() {
  local from
  from=$(cat "$DIR/host$1.from" 2>/dev/null || echo 0)
  tail -c +$((from + 1)) "$(log_file "$1")" 2>/dev/null
}

print_tails() {
  local host
  for host in "$@"; do
    echo "--- host $host ($(process_state "$host")), last lines of $(log_file "$host"):" >&2
    tail -n 30 "$(log_file "$host")" >&2 || true
  done
}

# Waits until every host given printed its ready line since its launch.
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) waiting host
  while :; do
    waiting=()
    for host in "$@"; do
      if ! since_launch "$host" | grep -q '^corelog: ready'; then
        if [ "$(process_state "$host")" = dead ]; then
          echo "cluster.sh: host $host exited before it was ready" >&2
          print_tails "$host"
          return 1
        fi
        waiting+=("$host")
      fi
    done
    [ "${#waiting[@]}" -eq 0 ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "cluster.sh: hosts ${waiting[*]} not ready after ${READY_TIMEOUT} s" >&2
      print_tails "${waiting[@]}"
      return 1
    fi
    sleep 0.2
  done
}

# The namespace, its veth pair (the inside end renamed eth0) and addresses.
plumb() {
  local host=$1 ns outside
  ns=$(namespace "$host")
  outside=$(veth_outside "$host")
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$outside" type veth peer name "${NAME}i$host"
  ip link set "${NAME}i$host" netns "$ns"
  ip -n "$ns" link set "${NAME}i$host" name eth0
  ip -n "$ns" addr add "$(address "$host")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip link set "$outside" master "$(bridge)" up
}

command_up() {
  local hosts=${1:-} cores=1 host
  [[ "$hosts" =~ ^[0-9]+$ ]] && [ "$hosts" -ge 1 ] && [ "$hosts" -le "$HOSTS_MAX" ] || usage
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --cores)
        [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || usage
        cores=$2
        shift 2
        ;;
      *) usage ;;
    esac
  done
  require_root
  NAME=${CORELOG_CLUSTER_NAME:-cl}
  SUBNET=${CORELOG_CLUSTER_SUBNET:-10.77.0}
  [[ "$NAME" =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "CORELOG_CLUSTER_NAME must be 1-10 lowercase letters or digits, from a letter (interface names fit in 15 characters)"
  [[ "$SUBNET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "CORELOG_CLUSTER_SUBNET must be three octets, e.g. 10.77.0"
  BIN=$(realpath "${CORELOG_BIN:-./target/release/corelog}" 2>/dev/null) || die "no corelog binary at ${CORELOG_BIN:-./target/release/corelog} (cargo build --release, or set CORELOG_BIN)"
  [ -x "$BIN" ] || die "$BIN is not executable"
  if [ -f "$STATE" ] && ip netns list | grep -q "^$(load_state; namespace 0)\b"; then
    die "a cluster is up in $DIR: run down first"
  fi
  ip link show "$(bridge)" >/dev/null 2>&1 && die "bridge $(bridge) exists: another cluster named $NAME is up (down it, or set CORELOG_CLUSTER_NAME)"
  ip -4 route show | grep -q "^$SUBNET\.0/24 " && die "$SUBNET.0/24 is routed here already (set CORELOG_CLUSTER_SUBNET)"
  UNPINNED_FLAG=""
  if "$BIN" serve --help 2>/dev/null | grep -q -- '--no-pin'; then UNPINNED_FLAG=--no-pin; fi
  HOSTS=$hosts
  CORES=$cores
  EXTRA=${CORELOG_CLUSTER_EXTRA:-}
  READY_TIMEOUT=${CORELOG_CLUSTER_READY_TIMEOUT:-60}
  mkdir -p "$DIR"
  rm -rf "$DIR"/host*
  local setting
  for setting in NAME SUBNET BIN HOSTS CORES EXTRA READY_TIMEOUT UNPINNED_FLAG; do
    printf '%s=%q\n' "$setting" "${!setting}"
  done >"$STATE"
  # From here a failure takes down what was started; the logs stay.
  trap 'echo "cluster.sh: up failed; taking the cluster down (logs stay in $DIR)" >&2; teardown' ERR
  ip link add "$(bridge)" type bridge
  ip addr add "$SUBNET.254/24" dev "$(bridge)"
  ip link set "$(bridge)" up
  for ((host = 0; host < HOSTS; host++)); do plumb "$host"; done
  for ((host = 0; host < HOSTS; host++)); do launch "$host"; done
  local all=()
  for ((host = 0; host < HOSTS; host++)); do all+=("$host"); done
  wait_ready "${all[@]}"
  trap - ERR
  echo "cluster.sh: $HOSTS hosts up ($(voter_count) voters), $CORES shards each; data and logs in $DIR"
  bootstrap_list
}

# Stops every host (SIGTERM, SIGKILL after 5 s) and removes the namespaces
# and the bridge. Quiet and successful when there is nothing to remove.
teardown() {
  local host pids=() pid ns deadline
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${NAME}h[0-9]+$" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
  done
  for ((host = 0; host < ${HOSTS:-0}; host++)); do
    pid=$(host_pid "$host") && pids+=("$pid")
  done
  if [ "${#pids[@]}" -gt 0 ]; then
    kill -CONT "${pids[@]}" 2>/dev/null || true
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    for pid in "${pids[@]}"; do
      while [ -e "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; break; fi
        sleep 0.1
      done
    done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${NAME}h[0-9]+$" || true); do
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "$(bridge)" 2>/dev/null || true
  rm -f "$DIR"/host*.pid
}

command_down() {
  [ $# -eq 0 ] || usage
  require_root
  load_state
  teardown
  rm -f "$STATE"
}

command_signal() {
  local signal=$1 host=${2:-} pid
  [ $# -eq 2 ] || usage
  require_state
  check_host_index "$host"
  pid=$(host_pid "$host") && [ "$(process_state "$host")" != dead ] || die "host $host is not running"
  kill "-$signal" "$pid"
  if [ "$signal" = KILL ]; then
    while [ "$(process_state "$host")" != dead ]; do sleep 0.05; done
  fi
}

command_start() {
  local host=${1:-}
  [ $# -eq 1 ] || usage
  require_root
  require_state
  check_host_index "$host"
  [ "$(process_state "$host")" = dead ] || die "host $host is running (kill it first)"
  launch "$host"
  if is_isolated "$host"; then
    echo "cluster.sh: host $host started isolated; not waiting for its ready line"
    return
  fi
  wait_ready "$host"
  echo "cluster.sh: host $host ready"
}

command_isolate() {
  local host=${1:-}
  [ $# -eq 1 ] || usage
  require_root
  require_state
  check_host_index "$host"
  ip link set "$(veth_outside "$host")" down
}

command_heal() {
  local host
  [ $# -eq 0 ] || usage
  require_root
  require_state
  for ((host = 0; host < HOSTS; host++)); do
    ip link set "$(veth_outside "$host")" up
  done
}

# The node the last quorum line of host H's log names, and its term.
known_leader() {
  local line
  line=$(grep '^corelog: quorum: node -\{0,1\}[0-9]* leads' "$(log_file "$1")" 2>/dev/null | tail -1 || true)
  if [ -z "$line" ]; then echo "- -"; return; fi
  echo "$line" | sed 's/^corelog: quorum: node \(-\{0,1\}[0-9]*\) leads (term \([0-9]*\)).*/\1 \2/'
}

command_status() {
  local host state leader term
  [ $# -eq 0 ] || usage
  require_state
  local -A votes=()
  for ((host = 0; host < HOSTS; host++)); do
    state=$(process_state "$host")
    if [ "$state" = running ] && is_isolated "$host"; then state=isolated; fi
    read -r leader term < <(known_leader "$host")
    echo "host $host $(address "$host") $state leader $leader term $term"
    if [ "$state" = running ] && [ "$leader" != - ]; then votes[$leader]=$((${votes[$leader]:-0} + 1)); fi
  done
  # The quorum leader: the one a majority of the hosts that run and are
  # reachable name; -1 while they disagree or know none.
  local reachable=0 best=-1
  for ((host = 0; host < HOSTS; host++)); do
    state=$(process_state "$host")
    if [ "$state" = running ] && ! is_isolated "$host"; then reachable=$((reachable + 1)); fi
  done
  for leader in "${!votes[@]}"; do
    if [ "$leader" -ge 0 ] && [ $((votes[$leader] * 2)) -gt "$reachable" ]; then best=$leader; fi
  done
  echo "leader $best"
}

main() {
  local command=${1:-}
  [ $# -gt 0 ] && shift
  case "$command" in
    up) command_up "$@" ;;
    down) command_down "$@" ;;
    kill) command_signal KILL "$@" ;;
    stop) command_signal STOP "$@" ;;
    cont) command_signal CONT "$@" ;;
    start) command_start "$@" ;;
    isolate) command_isolate "$@" ;;
    heal) command_heal "$@" ;;
    bootstrap) [ $# -eq 0 ] || usage; require_state; bootstrap_list ;;
    status) command_status "$@" ;;
    *) usage ;;
  esac
}

main "$@"
