#!/usr/bin/env bash
# Throughput of H2Middleware against Kestrel's own HTTP/2, same process, same routes, cleartext h2 (prior knowledge).
# The server is pinned to CPU 0 and h2load to CPU 1; rounds alternate between the two endpoints.
# Usage: build/bench.sh [rounds]   (default 5). Prints each round's req/s, and the mean and median ratio ours/Kestrel
# per scenario (the VM's run-to-run noise is large: the median is the figure to trust), and the server's CPU time per
# request on each endpoint (user + system time of the server process around each h2load run) with its median ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
kestrel_port=6080
engine_port=6081

build/install-test-deps.sh
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

dotnet build samples/BenchServer -c Release -v quiet -nologo >/dev/null
taskset -c 0 dotnet samples/BenchServer/bin/Release/net10.0/BenchServer.dll "$kestrel_port" "$engine_port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$payload"' EXIT
payload=$(mktemp)
head -c 1048576 /dev/urandom > "$payload"

for _ in $(seq 1 50); do
  curl -s --http2-prior-knowledge "http://127.0.0.1:$engine_port/hello" >/dev/null 2>&1 && break
  sleep 0.2
done

scenario_args() {
  case $1 in
    S1) echo "-n 200000 -c 16 -m 100 /hello" ;;
    S2) echo "-n 100000 -c 200 -m 10 /hello" ;;
    S3) echo "-n 2000 -c 4 -m 4 /bytes/1048576" ;;
    S4) echo "-n 1000 -c 4 -m 4 -d $payload /echo-len" ;;
  esac
}

clock_ticks=$(getconf CLK_TCK)

# The server process's CPU time so far, in microseconds (utime + stime from /proc).
cpu_us() {
  awk -v hz="$clock_ticks" '{ printf "%d", ($14 + $15) * 1000000 / hz }' "/proc/$server/stat"
}

# Runs h2load once; prints "<req/s> <failed>".
run() {
  local port=$1; shift
  local args=($(scenario_args "$1"))
  local path=${args[-1]}
  unset 'args[-1]'
  local out
  out=$(taskset -c 1 h2load "${args[@]}" "http://127.0.0.1:$port$path" 2>&1)
  local rps failed
  rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  failed=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' <<<"$out")
  echo "${rps:-0} $((${failed:-1}))"
}

# Warm both endpoints until tiered JIT has settled. Kestrel ships precompiled (ReadyToRun); our assembly starts in
# tier 0, and with the server pinned to one busy core the background tier-up takes about two million requests.
for port in $kestrel_port $engine_port; do
  for _ in $(seq 1 10); do
    run $port S1 >/dev/null
  done
  for s in S2 S3 S4; do
    run $port $s >/dev/null
  done
done

median() {
  sort -n | awk '{ r[NR] = $1 } END { printf "%.2f", (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}

requests_of() {
  local args=($(scenario_args "$1"))
  echo "${args[1]}"
}

printf '%-4s %-6s %12s %12s %8s %10s %10s %s\n' scen round kestrel ours ratio "k us/req" "us/req" failed
for s in S1 S2 S3 S4; do
  ratios=() k_cpus=() e_cpus=() cpu_ratios=()
  requests=$(requests_of $s)
  for r in $(seq 1 "$rounds"); do
    before=$(cpu_us)
    read -r k_rps k_failed < <(run $kestrel_port $s)
    middle=$(cpu_us)
    read -r e_rps e_failed < <(run $engine_port $s)
    after=$(cpu_us)
    k_cpu=$(awk -v d=$((middle - before)) -v n="$requests" 'BEGIN { printf "%.1f", d / n }')
    e_cpu=$(awk -v d=$((after - middle)) -v n="$requests" 'BEGIN { printf "%.1f", d / n }')
    ratio=$(awk -v e="$e_rps" -v k="$k_rps" 'BEGIN { printf "%.2f", (k > 0 ? e / k : 0) }')
    ratios+=("$ratio") k_cpus+=("$k_cpu") e_cpus+=("$e_cpu")
    cpu_ratios+=("$(awk -v e="$e_cpu" -v k="$k_cpu" 'BEGIN { printf "%.2f", (e > 0 ? k / e : 0) }')")
    printf '%-4s %-6s %12s %12s %8s %10s %10s k=%s ours=%s\n' "$s" "$r" "$k_rps" "$e_rps" "$ratio" "$k_cpu" "$e_cpu" "$k_failed" "$e_failed"
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v s="$s" '{ r[NR] = $1; t += $1 }
    END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "%-4s ratio ours/Kestrel: mean %.2f, median %.2f\n", s, t / NR, m }'
  printf '%-4s server CPU per request (median): Kestrel %s us, ours %s us; Kestrel/ours median %s\n' "$s" \
    "$(printf '%s\n' "${k_cpus[@]}" | median)" "$(printf '%s\n' "${e_cpus[@]}" | median)" "$(printf '%s\n' "${cpu_ratios[@]}" | median)"
done
