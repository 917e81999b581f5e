#!/usr/bin/env bash
# Submit `python -m distgrad train` to a running Ray cluster with `ray job submit`, and
# follow its logs until it ends (the exit status is the job's: 0 when it SUCCEEDED).
#
#   scripts/submit.sh [--address URL] [--python PY] [--submission-id ID] [--no-wait] [--]
#                     [train options...]
#
#   source /tmp/distgrad-cluster/env.sh && scripts/submit.sh --epochs 2     # local_cluster.sh
#   RAY_ADDRESS=http://127.0.0.1:8265 scripts/submit.sh --workers 2          # via `ray dashboard`
#
# The job runs from this repository's directory, uploaded as its working_dir (without
# .venv, .git and build output), with --address auto so its workers join the cluster.
# The cluster runs with token authentication, so this shell needs RAY_AUTH_MODE=token
# (set here when unset) and the cluster's token in RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
# ~/.ray/auth_token.
#
# --address: the cluster's dashboard (job API) address; default $RAY_ADDRESS, else
#            http://127.0.0.1:8265.
# --python:  the Python that runs the job on the cluster; default: this repo's
#            .venv/bin/python when the cluster is on this machine, else `python`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
address="${RAY_ADDRESS:-http://127.0.0.1:8265}"
python=""
submit_opts=()

die() { echo "submit.sh: $*" >&2; exit 2; }

while (($#)); do
  case "$1" in
    --address) [[ $# -ge 2 ]] || die "--address needs a value"; address="$2"; shift 2 ;;
    --python) [[ $# -ge 2 ]] || die "--python needs a value"; python="$2"; shift 2 ;;
    --submission-id) [[ $# -ge 2 ]] || die "--submission-id needs a value"
                     submit_opts+=(--submission-id "$2"); shift 2 ;;
    --no-wait) submit_opts+=(--no-wait); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

if [[ -z "${RAY_BIN:-}" ]]; then
  if [[ -x "$repo/.venv/bin/ray" ]]; then RAY_BIN="$repo/.venv/bin/ray"; else RAY_BIN="ray"; fi
fi
command -v "$RAY_BIN" >/dev/null 2>&1 || die "no Ray CLI at '$RAY_BIN' (run 'make venv', or set RAY_BIN)"

export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
if [[ "$RAY_AUTH_MODE" == token && -z "${RAY_AUTH_TOKEN:-}" ]]; then
  token_file="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
  [[ -s "$token_file" ]] || die "no Ray token: set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH to the cluster's token (looked in $token_file)"
fi

case "$address" in
  *://127.0.0.1:*|*://localhost:*|127.0.0.1:*|localhost:*) local_cluster=1 ;;
  *) local_cluster=0 ;;
esac
if [[ -z "$python" ]]; then
  if ((local_cluster)) && [[ -x "$repo/.venv/bin/python" ]]; then
    python="$repo/.venv/bin/python"
  else
    python="python"
  fi
fi

runtime_env=$(cat <<EOF
{"working_dir": "$repo",
 "excludes": [".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache",
              ".hypothesis", "*.png", "*.svg"],
 "env_vars": {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}}
EOF
)

echo "submit.sh: submitting 'python -m distgrad train --address auto $*' to $address" >&2
exec "$RAY_BIN" job submit --address "$address" --runtime-env-json "$runtime_env" \
  "${submit_opts[@]}" -- "$python" -m distgrad train --address auto "$@"
