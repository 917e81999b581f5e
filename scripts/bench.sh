#!/usr/bin/env bash
# The benchmark of SPEC section 4, as pasted into the README: the table (S and M; pass
# --sizes S,M,L for L: seconds per step per system, minutes in all), the scaling table
# and a profile of the distgrad step at S. Each writes JSON next to the others.
#
#   scripts/bench.sh                       # results in ./bench-results/
#   OUT=/tmp/b scripts/bench.sh --sizes S,M,L
#
# Extra arguments go to the table run. Settings (environment): OUT (bench-results),
# PYTHON (the repo's .venv/bin/python, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi
OUT="${OUT:-bench-results}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export RAY_USAGE_STATS_ENABLED=0
cd "$repo"

"$PYTHON" -m distgrad bench --json "$OUT/bench.json" "$@" | tee "$OUT/bench.txt"
"$PYTHON" -m distgrad bench --scaling --json "$OUT/scaling.json" | tee "$OUT/scaling.txt"
"$PYTHON" -m distgrad bench --profile --profile-out "$OUT/profile.prof" --json "$OUT/profile.json" \
  | tee "$OUT/profile.txt"
echo "results in $OUT/"
