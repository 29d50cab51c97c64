#!/usr/bin/env bash
# H2Middleware against Kestrel's own HTTP/2, same process, same routes, h2 over cleartext (prior knowledge) or TLS.
# The server is pinned to CPU 0 and the client (h2load, or the priority probe) to CPU 1; rounds alternate between the
# endpoints.
# Usage: build/bench.sh [rounds] [scenario...]   (default 5 rounds of S1 S2 S3 S4 S5 S6 S7 S8 C0 P1 P2 M1 L1; "S7" selects
# S7a and S7b; BENCH_PORT moves the ten ports, default 6080-6089: Kestrel, ours, ours with the RFC 7540 tree, Kestrel
# over TLS, ours over TLS, and the same five for C0's fresh servers).
# S1-S8 (h2load): each round's req/s, the mean and median ratio ours/Kestrel per scenario (the VM's run-to-run noise is
# large: the median is the figure to trust), and the server's CPU time per request on each endpoint (user + system time
# of the server process around each h2load run) with its median ratio. S1-S4: small requests (two shapes), 1 MiB
# downloads, 1 MiB uploads read through Request.BodyReader. S5: gRPC unary calls, ~20-byte messages. S6: 100
# concurrent 16 KiB downloads on one TLS connection. S7a: 16 KiB uploads read through Request.BodyReader, many at once;
# S7b: 1 MiB uploads read through Request.Body.ReadAsync. S8: S1 over TLS.
# C0 (cold start): S1's requests, but the first 100,000 of a fresh server process (one per engine per round, the
# other engine idle in it), twice: C0a with BenchServer as built (our assembly is IL and starts in tier-0 JIT code,
# Kestrel's is precompiled, ReadyToRun), C0b with the H2Middleware.dll that the package (build/pack.sh) carries for
# linux-x64, which is ReadyToRun: what an application referencing the package loads on this platform.
# P1 (samples/PriorityProbe, reading at 20 MB/s): a u=7 100 MiB download, then 200 small u=0 requests once 4 MiB have
# arrived: the small requests' p50/p99 and the download's MB/s on each engine, and the download alone (solo) for
# comparison. P2: two downloads with RFC 7540 weights 256 and 1: the heavy one's share of the first 32 MiB on Kestrel,
# on our RFC 7540 tree endpoint and on our default (RFC 9218) endpoint. Medians of the rounds.
# M1 (build/bench-memory.sh): RSS and managed heap per idle connection (10,000 of them) and per active stream.
# L1 (build/bench-latency.sh): 32 MiB uploads through a proxy adding 25 ms each way, adaptive receive windows against
# fixed ones and against Kestrel.
set -euo pipefail
cd "$(dirname "$0")/.."
source build/bench-lib.sh
rounds=${1:-5}
scenarios=()
for s in "${@:2}"; do
  if [[ $s == S7 ]]; then scenarios+=(S7a S7b); else scenarios+=("$s"); fi
done
((${#scenarios[@]})) || scenarios=(S1 S2 S3 S4 S5 S6 S7a S7b S8 C0 P1 P2 M1 L1)
kestrel_port=${BENCH_PORT:-6080}
engine_port=$((kestrel_port + 1))
tree_port=$((kestrel_port + 2))
kestrel_tls_port=$((kestrel_port + 3))
engine_tls_port=$((kestrel_port + 4))
# C0's fresh servers listen on their own five ports, so that the warm server can stay up for P1 and P2.
cold_ports=($(seq $((kestrel_port + 5)) $((kestrel_port + 9))))
server_dll=samples/BenchServer/bin/Release/net10.0/BenchServer.dll

# Two benchmarks at once on a 2-core machine measure each other: wait for any other bench.sh to finish.
exec 9>/tmp/h2middleware-bench.lock
flock 9

build/install-test-deps.sh
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

dotnet build samples/BenchServer -c Release -v quiet -nologo 9>&- >/dev/null
dotnet build samples/PriorityProbe -c Release -v quiet -nologo 9>&- >/dev/null
taskset -c 0 dotnet "$server_dll" "$kestrel_port" "$engine_port" "$tree_port" "$kestrel_tls_port" "$engine_tls_port" 9>&- &
server=$!
cold_server=
files=$(mktemp -d)
trap 'kill $server $cold_server 2>/dev/null; wait $server $cold_server 2>/dev/null; rm -rf "$files"' EXIT
payload=$files/1MiB
head -c 1048576 /dev/urandom > "$payload"
small_payload=$files/16KiB
head -c 16384 /dev/urandom > "$small_payload"
# S5's request, one gRPC message: no compression flag, the 4-byte length (20), then the HelloRequest: field 1 (name),
# length 18, "bench-client-00001".
grpc_request=$files/grpc-request
{ printf '\x00\x00\x00\x00\x14\x0a\x12'; printf 'bench-client-00001'; } > "$grpc_request"
grpc_headers="-H content-type:application/grpc -H te:trailers"
# C0b's server: the BenchServer build with the package's linux-x64 H2Middleware.dll in place of the IL one.
readytorun_server_dll=$files/readytorun-server/BenchServer.dll
if selected C0; then
  build/pack.sh "$files/packages" 9>&- >/dev/null
  cp -r "$(dirname "$server_dll")" "$files/readytorun-server"
  unzip -p "$files"/packages/H2Middleware.*.nupkg runtimes/linux-x64/lib/net10.0/H2Middleware.dll \
    > "$files/readytorun-server/H2Middleware.dll"
fi

wait_listening "$kestrel_port" "$engine_port" "$tree_port" "$kestrel_tls_port" "$engine_tls_port"
for _ in $(seq 1 50); do
  curl -s --http2-prior-knowledge "http://127.0.0.1:$engine_port/hello" >/dev/null 2>&1 && break
  sleep 0.2
done

# h2load's arguments, the path last.
scenario_args() {
  case $1 in
    S1 | S8) echo "-n 200000 -c 16 -m 100 /hello" ;;
    S2) echo "-n 100000 -c 200 -m 10 /hello" ;;
    S3) echo "-n 2000 -c 4 -m 4 /bytes/1048576" ;;
    S4) echo "-n 1000 -c 4 -m 4 -d $payload /echo-len" ;;
    S5) echo "-n 100000 -c 16 -m 100 -d $grpc_request $grpc_headers /bench.Greeter/SayHello" ;;
    S6) echo "-n 20000 -c 1 -m 100 /bytes/16384" ;;
    S7a) echo "-n 40000 -c 16 -m 10 -d $small_payload /echo-len" ;;
    S7b) echo "-n 1000 -c 4 -m 4 -d $payload /echo-len-body" ;;
    C0) echo "-n 100000 -c 16 -m 100 /hello" ;;
  esac
}

tls_scenario() {
  [[ $1 == S6 || $1 == S8 ]]
}

scenario_scheme() {
  if tls_scenario "$1"; then echo https; else echo http; fi
}

# The port of a scenario's endpoint on one side: kestrel or ours.
port_of() {
  if tls_scenario "$1"; then
    if [[ $2 == kestrel ]]; then echo "$kestrel_tls_port"; else echo "$engine_tls_port"; fi
  elif [[ $2 == kestrel ]]; then echo "$kestrel_port"; else echo "$engine_port"; fi
}

h2load_scenarios=()
for s in S1 S2 S3 S4 S5 S6 S7a S7b S8; do
  selected $s && h2load_scenarios+=("$s")
done

# The measured responses must be what they claim: h2load counts any 2xx as a success, gRPC answers its errors with
# 200, and a TLS endpoint could fall back to HTTP/1.1.
if selected S5; then
  for port in $kestrel_port $engine_port; do
    reply=$(nghttp -v -d "$grpc_request" -H 'content-type: application/grpc' -H 'te: trailers' \
      "http://127.0.0.1:$port/bench.Greeter/SayHello" 2>&1 | tr -d '\0')
    grep -q 'grpc-status: 0$' <<<"$reply" && grep -q 'Hi bench-client-00001' <<<"$reply" ||
      fail "S5: no gRPC reply with grpc-status 0 from port $port:"$'\n'"$reply"
  done
fi
if selected S6 || selected S8; then
  for port in $kestrel_tls_port $engine_tls_port; do
    version=$(curl -sk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$port/hello") || true
    [[ $version == 2 ]] || fail "S6/S8: port $port answered over HTTP version '$version', not h2"
  done
fi

# Methods the server's JIT has compiled so far (all tiers), asked of Kestrel's cleartext endpoint.
jitted() {
  curl -s --http2-prior-knowledge "http://127.0.0.1:$kestrel_port/jitted"
}

# Runs a scenario on one side until tiered JIT has settled for it: until a run compiles fewer than ten methods (at
# least two runs, at most thirty). One run was not enough: TLS and upload paths (both engines' and the runtime's)
# were still being compiled during the measured rounds, the JIT taking 9-15% of the samples in S6.
warm_until_settled() {
  local s=$1 side=$2 before after runs=0
  while ((runs < 30)); do
    before=$(jitted)
    run "$(port_of "$s" "$side")" "$s" >/dev/null
    after=$(jitted)
    runs=$((runs + 1))
    ((runs >= 2 && after - before < 10)) && break
  done
  printf 'warm-up %-4s %-8s %2d runs, %s methods compiled in the last\n' "$s" "$side" "$runs" $((after - before)) >&2
}

# Warm both endpoints until tiered JIT has settled. Kestrel ships precompiled (ReadyToRun); our assembly starts in
# tier 0, and with the server pinned to one busy core the background tier-up takes about two million requests. Then
# each selected scenario warms its own route and, for S6 and S8, the TLS endpoints, until the JIT is quiet for it.
if ((${#h2load_scenarios[@]})); then
  for side in kestrel ours; do
    for _ in $(seq 1 10); do
      run "$(port_of S1 $side)" S1 >/dev/null
    done
    for s in S2 S3 S4; do
      warm_until_settled "$s" "$side"
    done
    for s in "${h2load_scenarios[@]}"; do
      [[ $s == S[1-4] ]] || warm_until_settled "$s" "$side"
    done
  done
fi

((${#h2load_scenarios[@]})) && print_table_header
s1_median_ratio=
for s in "${h2load_scenarios[@]}"; do
  ratios=() k_cpus=() e_cpus=() cpu_ratios=()
  for r in $(seq 1 "$rounds"); do
    before=$(cpu_us $server)
    read -r k_rps k_failed < <(run "$(port_of $s kestrel)" $s)
    middle=$(cpu_us $server)
    read -r e_rps e_failed < <(run "$(port_of $s ours)" $s)
    after=$(cpu_us $server)
    record_round $s "$r" "$(requests_of $s)" "$k_rps" "$k_failed" $((middle - before)) "$e_rps" "$e_failed" $((after - middle))
  done
  report_scenario $s
  if [[ $s == S1 ]]; then s1_median_ratio=$last_median_ratio; fi
done

if selected C0; then
  # Each run is a fresh process, started pinned and measured from its first request: readiness is read from
  # /proc/net/tcp, so no request (not even a health check) warms either engine first; the request pipeline is built
  # before Kestrel binds. The CPU time counted is the server's during the run, start-up excluded. All of C0a's rounds,
  # then all of C0b's.
  cold_medians=()
  for variant in a b; do
    if [[ $variant == a ]]; then cold_dll=$server_dll; else cold_dll=$readytorun_server_dll; fi
    print_table_header
    ratios=() k_cpus=() e_cpus=() cpu_ratios=()
    for r in $(seq 1 "$rounds"); do
      results=()
      for side in kestrel ours; do
        taskset -c 0 dotnet "$cold_dll" "${cold_ports[@]}" 9>&- &
        cold_server=$!
        wait_listening "${cold_ports[@]}"
        if [[ $side == kestrel ]]; then port=${cold_ports[0]}; else port=${cold_ports[1]}; fi
        before=$(cpu_us $cold_server)
        read -r rps failed < <(run "$port" C0)
        results+=("$rps" "$failed" $(($(cpu_us $cold_server) - before)))
        kill $cold_server
        wait $cold_server 2>/dev/null || true
        cold_server=
      done
      record_round C0$variant "$r" "$(requests_of C0)" "${results[@]}"
    done
    report_scenario C0$variant
    cold_medians+=("$last_median_ratio")
  done
  printf 'C0   beside warm S1: median ratio cold %s (C0a, IL build), %s (C0b, ReadyToRun package), warm %s\n' \
    "${cold_medians[0]}" "${cold_medians[1]}" "${s1_median_ratio:-(S1 not run)}"
fi

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

if selected M1; then
  # Memory per idle connection and per active stream: servers of its own, under the lock this script holds.
  H2M_BENCH_LOCK_HELD=1 build/bench-memory.sh "$rounds" 9>&-
fi

if selected L1; then
  H2M_BENCH_LOCK_HELD=1 build/bench-latency.sh 32 "$rounds" 25 9>&-
fi
