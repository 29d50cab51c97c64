#!/usr/bin/env bash
# H2Middleware against Kestrel's own HTTP/2, same process, same routes, cleartext h2 (prior knowledge).
# The server is pinned to CPU 0 and the client (h2load, or the priority probe) to CPU 1; rounds alternate between the
# endpoints.
# Usage: build/bench.sh [rounds] [scenario...]   (default 5 rounds of S1 S2 S3 S4 P1 P2; BENCH_PORT moves the three
# ports, default 6080-6082).
# S1-S4 (h2load): each round's req/s, the mean and median ratio ours/Kestrel per scenario (the VM's run-to-run noise is
# large: the median is the figure to trust), and the server's CPU time per request on each endpoint (user + system time
# of the server process around each h2load run) with its median ratio.
# P1 (samples/PriorityProbe, reading at 20 MB/s): a u=7 100 MiB download, then 200 small u=0 requests once 4 MiB have
# arrived: the small requests' p50/p99 and the download's MB/s on each engine, and the download alone (solo) for
# comparison. P2: two downloads with RFC 7540 weights 256 and 1: the heavy one's share of the first 32 MiB on Kestrel,
# on our RFC 7540 tree endpoint and on our default (RFC 9218) endpoint. Medians of the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
scenarios=("${@:2}")
((${#scenarios[@]})) || scenarios=(S1 S2 S3 S4 P1 P2)
kestrel_port=${BENCH_PORT:-6080}
engine_port=$((kestrel_port + 1))
tree_port=$((kestrel_port + 2))

# Two benchmarks at once on a 2-core machine measure each other: wait for any other bench.sh to finish.
exec 9>/tmp/h2middleware-bench.lock
flock 9

build/install-test-deps.sh
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

dotnet build samples/BenchServer -c Release -v quiet -nologo 9>&- >/dev/null
dotnet build samples/PriorityProbe -c Release -v quiet -nologo 9>&- >/dev/null
taskset -c 0 dotnet samples/BenchServer/bin/Release/net10.0/BenchServer.dll "$kestrel_port" "$engine_port" "$tree_port" 9>&- &
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

# Whether the scenario was asked for.
selected() {
  [[ " ${scenarios[*]} " == *" $1 "* ]]
}

h2load_scenarios=()
for s in S1 S2 S3 S4; do
  selected $s && h2load_scenarios+=("$s")
done

# Warm both endpoints until tiered JIT has settled. Kestrel ships precompiled (ReadyToRun); our assembly starts in
# tier 0, and with the server pinned to one busy core the background tier-up takes about two million requests.
if ((${#h2load_scenarios[@]})); then
  for port in $kestrel_port $engine_port; do
    for _ in $(seq 1 10); do
      run $port S1 >/dev/null
    done
    for s in S2 S3 S4; do
      run $port $s >/dev/null
    done
  done
fi

# The median of the numbers on stdin, printed with the given format (default %.2f).
median() {
  sort -n | awk -v format="${1:-%.2f}" '{ r[NR] = $1 } END { printf format, (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}

# Runs the priority probe once; prints its result line, or "failed" (the reason goes to stderr).
probe() {
  taskset -c 1 timeout 120 dotnet samples/PriorityProbe/bin/Release/net10.0/PriorityProbe.dll "$@" || echo failed
}

# The value of key=value in a probe's result line ("-" when the run failed).
field() {
  local value
  value=$(sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1")
  echo "${value:--}"
}

# The median of the arguments that are numbers, printed with the format given first.
median_of() {
  local format=$1; shift
  printf '%s\n' "$@" | grep -v '^-$' | median "$format"
}

requests_of() {
  local args=($(scenario_args "$1"))
  echo "${args[1]}"
}

((${#h2load_scenarios[@]})) && printf '%-4s %-6s %12s %12s %8s %10s %10s %s\n' scen round kestrel ours ratio "k us/req" "us/req" failed
for s in "${h2load_scenarios[@]}"; do
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
    "$(median_of %.2f "${k_cpus[@]}")" "$(median_of %.2f "${e_cpus[@]}")" "$(median_of %.2f "${cpu_ratios[@]}")"
done

if selected P1; then
  # One discarded run per endpoint, so that neither engine's first connection is measured.
  probe p1 $kestrel_port >/dev/null
  probe p1 $engine_port >/dev/null
  printf '%-4s %-6s %20s %20s %10s %10s %10s %10s\n' scen round "k p50/p99 ms" "ours p50/p99 ms" "k MB/s" "ours MB/s" "k solo" "ours solo"
  k_p50=() k_p99=() e_p50=() e_p99=() k_mbps=() e_mbps=() k_solo=() e_solo=()
  for r in $(seq 1 "$rounds"); do
    k=$(probe p1 $kestrel_port)
    e=$(probe p1 $engine_port)
    ks=$(probe solo $kestrel_port)
    es=$(probe solo $engine_port)
    k_p50+=("$(field "$k" small_p50_ms)") k_p99+=("$(field "$k" small_p99_ms)") k_mbps+=("$(field "$k" download_MBps)")
    e_p50+=("$(field "$e" small_p50_ms)") e_p99+=("$(field "$e" small_p99_ms)") e_mbps+=("$(field "$e" download_MBps)")
    k_solo+=("$(field "$ks" download_MBps)") e_solo+=("$(field "$es" download_MBps)")
    printf '%-4s %-6s %20s %20s %10s %10s %10s %10s\n' P1 "$r" "${k_p50[-1]}/${k_p99[-1]}" "${e_p50[-1]}/${e_p99[-1]}" \
      "${k_mbps[-1]}" "${e_mbps[-1]}" "${k_solo[-1]}" "${e_solo[-1]}"
  done
  printf 'P1   small requests p50/p99 (median): Kestrel %s/%s ms, ours %s/%s ms\n' \
    "$(median_of %.1f "${k_p50[@]}")" "$(median_of %.1f "${k_p99[@]}")" "$(median_of %.1f "${e_p50[@]}")" "$(median_of %.1f "${e_p99[@]}")"
  e_median=$(median_of %.2f "${e_mbps[@]}") e_solo_median=$(median_of %.2f "${e_solo[@]}")
  printf 'P1   download MB/s (median): Kestrel %s (solo %s), ours %s (solo %s, %s%%)\n' \
    "$(median_of %.2f "${k_mbps[@]}")" "$(median_of %.2f "${k_solo[@]}")" "$e_median" "$e_solo_median" \
    "$(awk -v d="$e_median" -v s="$e_solo_median" 'BEGIN { printf "%+.1f", (s > 0 ? (d / s - 1) * 100 : 0) }')"
fi

if selected P2; then
  printf '%-4s %-6s %14s %14s %14s\n' scen round "k heavy" "tree heavy" "9218 heavy"
  k_share=() t_share=() e_share=()
  for r in $(seq 1 "$rounds"); do
    k_share+=("$(field "$(probe p2 $kestrel_port)" heavy_share)")
    t_share+=("$(field "$(probe p2 $tree_port)" heavy_share)")
    e_share+=("$(field "$(probe p2 $engine_port)" heavy_share)")
    printf '%-4s %-6s %14s %14s %14s\n' P2 "$r" "${k_share[-1]}" "${t_share[-1]}" "${e_share[-1]}"
  done
  printf 'P2   weight-256 stream'"'"'s share of the first 32 MiB (median): Kestrel %s, ours with the RFC 7540 tree %s, ours with RFC 9218 %s\n' \
    "$(median_of %.4f "${k_share[@]}")" "$(median_of %.4f "${t_share[@]}")" "$(median_of %.4f "${e_share[@]}")"
fi
