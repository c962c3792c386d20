#!/usr/bin/env bash
# Run the 2-process tests (pytest marker `multiprocess`: torchrun and horovodrun runs) N times in a row and
# count the rounds that fail. A finished multi-process run must exit 0 every time.
#
#   bash scripts/stress_distributed.sh 50            # all 2-process tests, 50 rounds
#   bash scripts/stress_distributed.sh 20 -k torchrun # extra arguments go to pytest
#
# Logs of failed rounds are kept in $STRESS_LOG_DIR (default: a new folder under /tmp); the last line is
# "rounds N failed F" and the exit status is 1 when any round failed.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:?usage: stress_distributed.sh N [pytest args...]}
shift
log_dir=${STRESS_LOG_DIR:-$(mktemp -d /tmp/stress_distributed.XXXXXX)}
mkdir -p "$log_dir"
failed=0
start=$(date +%s)
for round in $(seq 1 "$rounds"); do
    log="$log_dir/round_$round.log"
    if OMP_NUM_THREADS=1 python3 -m pytest -q -p no:cacheprovider -m multiprocess tests "$@" >"$log" 2>&1; then
        rm -f "$log"
        status=ok
    else
        failed=$((failed + 1))
        status="FAILED (log: $log)"
    fi
    echo "round $round/$rounds: $status ($(( $(date +%s) - start )) s so far)"
done
echo "rounds $rounds failed $failed"
[ "$failed" -eq 0 ]
