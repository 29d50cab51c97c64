#!/usr/bin/env bash
# Every attack of test/H2Middleware.Tests/Attacks against a warmed server, for longer than the test run does (not run
# by CI). Each attack lasts the given number of seconds after a one-second unmeasured warm-up of the same attack, while
# a probe client on its own connection sends 20 GETs a second. Prints, per attack, the probe's worst latency (target
# under 1 s) and the server's memory growth: the managed heap it holds at the end of the attack, attackers still
# connected (target under 64 MB), what is left of it once they are gone, and the process's peak working set growth;
# and, to tell a slow server from a busy machine, the longest time the process was not scheduled and the longest
# thread-pool queueing delay.
# The thread pool keeps at least 8 worker threads (DOTNET_ThreadPool_ForceMinWorkerThreads, override it to change):
# the test runner blocks pool threads now and then (0.6-0.9 s thread-pool delays, and probe requests as slow, show up at
# the start of a test even with no attack at all), which on a 2-core machine's default of 2 threads measures the runner,
# not the engine. The engine itself makes no blocking call on its paths.
# Usage: build/attacks.sh [seconds per attack]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

report=$(mktemp)
log=$(mktemp)
trap 'rm -f "$report" "$log"' EXIT

dotnet build test/H2Middleware.Tests -c Release -v quiet -nologo >/dev/null
set +e
DOTNET_ThreadPool_ForceMinWorkerThreads=${DOTNET_ThreadPool_ForceMinWorkerThreads:-8} \
H2_ATTACK_SECONDS=$seconds H2_ATTACK_REPORT=$report \
  dotnet test test/H2Middleware.Tests -c Release --no-build --filter "FullyQualifiedName~H2Middleware.Tests.Attacks" \
  --logger "console;verbosity=normal" >"$log" 2>&1
set -e

printf '%-46s %6s %6s %7s %7s %8s %8s %7s %7s %7s  %s\n' attack probes failed "max ms" "p99 ms" "held MB" "left MB" "WS+ MB" \
  "stall" "pool" verdict
awk -F'\t' '{
  verdict = ($3 == 0 && $4 < 1000 && $6 < 64) ? "ok" : "OVER TARGET"
  printf "%-46s %6d %6d %7d %7d %8.1f %8.1f %7.1f %7d %7d  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $11, $12, verdict
}' "$report"
echo "(stall: longest time the test process was not scheduled at all, in ms: the machine's other load;"
echo " pool: longest wait of a work item in the thread pool queue, in ms: starvation inside the process)"
echo
echo "first attacker connection of each attack:"
awk -F'\t' '{ printf "  %-46s %s (%d connections)\n", $1, $10, $9 }' "$report"
echo
failed=$(grep -E '^\s+Failed ' "$log" | sed 's/^ *Failed /  /' || true)
if [[ -n $failed ]]; then
  echo "tests that failed (PendingDefenseTests fail until their defenses exist):"
  echo "$failed"
fi
grep -E '^(Passed!|Failed!)|Total tests' "$log" || true
