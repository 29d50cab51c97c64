#!/usr/bin/env bash
# A/B of our engine between two commits (issue 10's changes measured against the build before them): samples/BenchServer
# built at each commit (in temporary worktrees), both servers up at once on CPU 0, h2load on CPU 1 against our cleartext
# endpoint of each in turn, rounds alternating. Prints each round's req/s and server CPU per request, and the medians.
# CPU per request is what to read: this VM's speed swings up to 2x between minutes, and both builds see the same swings
# only when their rounds interleave. It comes from `perf stat -e task-clock` on the server (CPU time, not cycles:
# the VM has no hardware counters), or from /proc/PID/stat (10 ms ticks) without perf.
# Usage: build/bench-ab.sh BASE [CANDIDATE, default HEAD] [rounds, default 8] [h2load arguments and path, default
# S1: -n 300000 -c 16 -m 100 /hello]. WARMUP_RUNS (default 3): runs of the measured load per build before the rounds,
# so that its own code paths (gRPC's, say) are tier-1 too.
set -euo pipefail
cd "$(dirname "$0")/.."
source build/bench-lib.sh

base=${1:?usage: build/bench-ab.sh BASE [CANDIDATE] [rounds] [h2load arguments and path]}
candidate=${2:-HEAD}
rounds=${3:-8}
load=("${@:4}")
((${#load[@]})) || load=(-n 300000 -c 16 -m 100 /hello)
path=${load[-1]}
unset 'load[-1]'

exec 9>/tmp/h2middleware-bench.lock
flock 9
build/install-test-deps.sh
work=$(mktemp -d)
servers=()
cleanup() {
  kill "${servers[@]}" 2>/dev/null || true
  wait "${servers[@]}" 2>/dev/null || true
  git worktree remove --force "$work/a" 2>/dev/null || true
  git worktree remove --force "$work/b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ports=(6700 6800)
for side in a b; do
  commit=$([[ $side == a ]] && echo "$base" || echo "$candidate")
  git worktree add -q --detach "$work/$side" "$commit"
  dotnet build "$work/$side/samples/BenchServer" -c Release -v quiet -nologo 9>&- >/dev/null
done
for i in 0 1; do
  side=$([[ $i == 0 ]] && echo a || echo b)
  p=${ports[$i]}
  taskset -c 0 dotnet "$work/$side/samples/BenchServer/bin/Release/net10.0/BenchServer.dll" $p $((p + 1)) $((p + 2)) $((p + 3)) $((p + 4)) 9>&- >/dev/null 2>&1 &
  servers+=($!)
done
wait_listening $((ports[0] + 1)) $((ports[1] + 1))

# Tier-1 code on both before anything is measured (see PERFORMANCE.md, "Warm-up matters more than anything else here").
for i in 0 1; do
  for _ in $(seq 1 10); do taskset -c 1 h2load -n 200000 -c 16 -m 100 "http://127.0.0.1:$((ports[i] + 1))/hello" >/dev/null; done
  for _ in $(seq 1 "${WARMUP_RUNS:-3}"); do taskset -c 1 h2load "${load[@]}" "http://127.0.0.1:$((ports[i] + 1))$path" >/dev/null; done
done

hz=$(getconf CLK_TCK)
# CPU microseconds of a process while a command runs.
cpu_during() {
  local pid=$1 before after
  shift
  if command -v perf >/dev/null; then
    perf stat -e task-clock -x, -p "$pid" -o "$work/stat" -- "$@" >"$work/out"
    awk -F, '/task-clock/ { printf "%d", $1 * 1000 }' "$work/stat"
  else
    before=$(awk -v hz="$hz" '{ printf "%d", ($14 + $15) * 1000000 / hz }' "/proc/$pid/stat")
    "$@" >"$work/out"
    after=$(awk -v hz="$hz" '{ printf "%d", ($14 + $15) * 1000000 / hz }' "/proc/$pid/stat")
    echo $((after - before))
  fi
}

printf '%-6s %12s %12s %12s %12s\n' round "a req/s" "a us/req" "b req/s" "b us/req"
a_cpu=() b_cpu=() a_rps=() b_rps=()
for r in $(seq 1 "$rounds"); do
  line=$(printf '%-6s' "$r")
  for i in 0 1; do
    micros=$(cpu_during "${servers[$i]}" taskset -c 1 h2load "${load[@]}" "http://127.0.0.1:$((ports[i] + 1))$path")
    requests=$(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' "$work/out")
    rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$work/out")
    per=$(awk -v m="$micros" -v n="$requests" 'BEGIN { printf "%.3f", m / n }')
    if ((i == 0)); then a_cpu+=("$per") a_rps+=("$rps"); else b_cpu+=("$per") b_rps+=("$rps"); fi
    line+=$(printf ' %12.0f %12s' "$rps" "$per")
  done
  echo "$line"
done
printf 'median: a (%s) %s req/s, %s us/req; b (%s) %s req/s, %s us/req; CPU per request b/a %s\n' \
  "$base" "$(median_of %.0f "${a_rps[@]}")" "$(median_of %.3f "${a_cpu[@]}")" \
  "$candidate" "$(median_of %.0f "${b_rps[@]}")" "$(median_of %.3f "${b_cpu[@]}")" \
  "$(awk -v a="$(median_of %.3f "${a_cpu[@]}")" -v b="$(median_of %.3f "${b_cpu[@]}")" 'BEGIN { printf "%.3f", b / a }')"
