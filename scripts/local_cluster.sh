#!/usr/bin/env bash
# A two-node Ray cluster on 127.0.0.1, for trying `ray job submit` on one machine.
#
#   scripts/local_cluster.sh start    # head + second node, token auth on; prints the env to use
#   source "$DISTGRAD_CLUSTER_DIR/env.sh" && scripts/submit.sh --epochs 2
#   scripts/local_cluster.sh status
#   scripts/local_cluster.sh stop     # stops this cluster's processes, and no others
#
# Both nodes run on this machine, so each gets its own --temp-dir, its own agent,
# runtime-env, metrics and worker ports, and a bounded --object-store-memory. The
# dashboard (which serves job submission) listens on 127.0.0.1 only. Every process of
# the cluster and every client must agree on RAY_AUTH_MODE=token and on the token: the
# token lives in $DISTGRAD_CLUSTER_DIR/auth_token (mode 600) unless RAY_AUTH_TOKEN_PATH
# names one.
#
# Settings (environment): DISTGRAD_CLUSTER_DIR (/tmp/distgrad-cluster), RAY_BIN (the
# repo's .venv/bin/ray, else `ray`), GCS_PORT (6390), DASHBOARD_PORT (8275),
# NODE_CPUS (1 per node), OBJECT_STORE_BYTES (200000000 per node).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
DIR="${DISTGRAD_CLUSTER_DIR:-/tmp/distgrad-cluster}"
if [[ -z "${RAY_BIN:-}" ]]; then
  if [[ -x "$repo/.venv/bin/ray" ]]; then RAY_BIN="$repo/.venv/bin/ray"; else RAY_BIN="ray"; fi
fi
GCS_PORT="${GCS_PORT:-6390}"
DASHBOARD_PORT="${DASHBOARD_PORT:-8275}"
NODE_CPUS="${NODE_CPUS:-1}"
OBJECT_STORE_BYTES="${OBJECT_STORE_BYTES:-200000000}"
HOST=127.0.0.1

die() { echo "local_cluster.sh: $*" >&2; exit 1; }

# The processes of this cluster carry DISTGRAD_LOCAL_CLUSTER=$DIR in their environment
# (inherited from `ray start`), which is how `stop` finds them and only them. Processes
# that retitle themselves (workers, agents) can lose their environ, so their children
# (by parent pid) are included too.
cluster_pids() {
  local marker="${1:-DISTGRAD_LOCAL_CLUSTER=$DIR}" p line pid ppid
  local -A parent=()
  local found=()
  # One grep over every process's environment, and the parents read with builtins: a
  # process started per /proc entry took minutes on a busy machine with many processes.
  for p in $(grep -lzxF -- "$marker" /proc/[0-9]*/environ 2>/dev/null); do
    p="${p#/proc/}"
    found+=("${p%/environ}")
  done
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    read -r line 2>/dev/null < "$p/stat" || continue
    line="${line##*) }"           # after "pid (comm) "
    ppid="${line#* }"
    parent[$pid]="${ppid%% *}"
  done
  ((${#found[@]})) || return 0
  local -A in_set=()
  for pid in "${found[@]}"; do in_set[$pid]=1; done
  local changed=1
  while ((changed)); do
    changed=0
    for pid in "${!parent[@]}"; do
      if [[ -z "${in_set[$pid]:-}" && -n "${in_set[${parent[$pid]}]:-}" ]]; then
        in_set[$pid]=1
        changed=1
      fi
    done
  done
  for pid in "${!in_set[@]}"; do
    [[ -d "/proc/$pid" ]] && echo "$pid"
  done
  return 0
}

proc_name() { cat "/proc/$1/comm" 2>/dev/null || true; }

start() {
  command -v "$RAY_BIN" >/dev/null 2>&1 || die "no Ray CLI at '$RAY_BIN' (set RAY_BIN, or run 'make venv')"
  [[ -z "$(cluster_pids)" ]] || die "a cluster from $DIR is already running; run '$0 stop' first"
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  local token="${RAY_AUTH_TOKEN_PATH:-$DIR/auth_token}"
  if [[ ! -s "$token" ]]; then
    (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$token")
  fi

  export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$token" RAY_USAGE_STATS_ENABLED=0
  export DISTGRAD_LOCAL_CLUSTER="$DIR"
  local p=$GCS_PORT
  echo "starting the head node on $HOST:$GCS_PORT (dashboard $HOST:$DASHBOARD_PORT) ..."
  "$RAY_BIN" start --head --node-ip-address="$HOST" --port="$GCS_PORT" \
    --temp-dir="$DIR/head" --num-cpus="$NODE_CPUS" --object-store-memory="$OBJECT_STORE_BYTES" \
    --include-dashboard=true --dashboard-host="$HOST" --dashboard-port="$DASHBOARD_PORT" \
    --ray-client-server-port=$((p + 1)) --node-manager-port=$((p + 2)) \
    --object-manager-port=$((p + 3)) --dashboard-agent-grpc-port=$((p + 4)) \
    --dashboard-agent-listen-port=$((p + 5)) --runtime-env-agent-port=$((p + 6)) \
    --metrics-export-port=$((p + 7)) --min-worker-port=$((p + 100)) --max-worker-port=$((p + 199)) \
    --disable-usage-stats --log-style=record >"$DIR/head.log" 2>&1 \
    || { cat "$DIR/head.log" >&2; die "the head node did not start (log above)"; }

  # `ray start` gives a joining node 30 s (not settable) to register with the GCS; on a busy
  # machine that can pass, so the node is stopped (its own processes only) and started again.
  local attempt
  for attempt in 1 2 3; do
    echo "starting the second node ..."
    if DISTGRAD_LOCAL_NODE="$DIR/node2-$attempt" "$RAY_BIN" start --address="$HOST:$GCS_PORT" \
        --node-ip-address="$HOST" \
        --temp-dir="$DIR/node2" --num-cpus="$NODE_CPUS" --object-store-memory="$OBJECT_STORE_BYTES" \
        --node-manager-port=$((p + 12)) --object-manager-port=$((p + 13)) \
        --dashboard-agent-grpc-port=$((p + 14)) --dashboard-agent-listen-port=$((p + 15)) \
        --runtime-env-agent-port=$((p + 16)) --metrics-export-port=$((p + 17)) \
        --min-worker-port=$((p + 200)) --max-worker-port=$((p + 299)) \
        --disable-usage-stats --log-style=record >"$DIR/node2.log" 2>&1; then
      break
    fi
    if ((attempt == 3)) || ! grep -q "timed out during startup" "$DIR/node2.log"; then
      cat "$DIR/node2.log" >&2
      die "the second node did not start (log above)"
    fi
    echo "the second node did not register in time; starting it again"
    local pid
    for pid in $(cluster_pids "DISTGRAD_LOCAL_NODE=$DIR/node2-$attempt"); do
      kill -9 "$pid" 2>/dev/null || true
    done
  done

  cat >"$DIR/env.sh" <<EOF
# source this file to talk to the local distgrad test cluster
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH='$token'
export RAY_ADDRESS='http://$HOST:$DASHBOARD_PORT'
export RAY_USAGE_STATS_ENABLED=0
EOF
  echo "cluster up: 2 nodes on $HOST, token auth on."
  echo "  source $DIR/env.sh        # RAY_AUTH_MODE, RAY_AUTH_TOKEN_PATH, RAY_ADDRESS"
  echo "  scripts/submit.sh --epochs 2"
  echo "  $0 stop"
}

stop() {
  local pids pid name round
  pids="$(cluster_pids)"
  if [[ -z "$pids" ]]; then
    echo "no processes of the cluster in $DIR are running"
    return 0
  fi
  # The order `ray stop` uses: raylets first, then agents and workers, the GCS last.
  for round in raylet other gcs_server; do
    local group=()
    for pid in $(cluster_pids); do
      name="$(proc_name "$pid")"
      case "$round" in
        raylet) [[ "$name" == raylet ]] && group+=("$pid") ;;
        gcs_server) [[ "$name" == gcs_server ]] && group+=("$pid") ;;
        other) [[ "$name" != raylet && "$name" != gcs_server ]] && group+=("$pid") ;;
      esac
    done
    ((${#group[@]})) || continue
    kill -TERM "${group[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      local alive=0
      for pid in "${group[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.2
    done
    for pid in "${group[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  done
  sleep 0.5
  pids="$(cluster_pids)"
  if [[ -n "$pids" ]]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  echo "stopped the cluster in $DIR"
}

status() {
  local pids
  pids="$(cluster_pids)"
  if [[ -z "$pids" ]]; then echo "not running ($DIR)"; return 1; fi
  echo "running ($DIR): $(echo "$pids" | wc -l) processes"
  RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="${RAY_AUTH_TOKEN_PATH:-$DIR/auth_token}" \
    "$RAY_BIN" status --address="$HOST:$GCS_PORT" || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 {start|stop|status}" >&2; exit 2 ;;
esac
