#!/usr/bin/env bash
# The full suite as two pytest sessions side by side: the lab tests (one session, because the
# lab's network namespaces are global and only one session may drive them) and the unit tests
# (loopback, and empty namespaces of their own: never the lab's). Both spend most of their time
# waiting on devices, not computing, so together they take about as long as the lab part alone.
# The unit session's output is kept and printed when both are done, so neither garbles the other.
# Exit code: the lab session's if it failed, else the unit session's (5, "no tests collected",
# passes through for .ci/run to refuse).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
log=$(mktemp -t unit-tests.XXXXXX.log)
trap 'rm -f "$log"' EXIT
"$PY" -m pytest -m "" tests/unit "$@" >"$log" 2>&1 </dev/null &
unit_pid=$!
trap 'kill "$unit_pid" 2>/dev/null; rm -f "$log"' INT TERM
"$PY" -m pytest -m "" tests/lab "$@"
lab_rc=$?
wait "$unit_pid"
unit_rc=$?
echo
echo "================ unit tests (ran beside the lab tests): exit $unit_rc ================"
cat "$log"
echo "================ lab tests: exit $lab_rc; unit tests: exit $unit_rc ================"
if [ "$lab_rc" -ne 0 ]; then exit "$lab_rc"; fi
exit "$unit_rc"
