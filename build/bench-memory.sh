#!/usr/bin/env bash
# M1 (issue 10): memory per idle HTTP/2 connection and per active stream, Kestrel's HTTP/2 against ours.
# Every measurement gets a fresh samples/BenchServer process (with --memory: keep-alive timeouts raised so that no
# connection is closed for idleness meanwhile) and the client connects only to the measured engine's port (Kestrel's
# first, ours second), so that neither engine's memory is counted for the other. Server pinned to CPU 0, the client
# (samples/ConnectionHerd, raw sockets and hand-written frames) to CPU 1.
# - idle: warm the server (2 x 300 connections, each with one GET and 10 held streams, then closed), read /memory,
#   open 10,000 connections that each serve one GET /hello and then stay idle, wait, read /memory again:
#   (after - before) / 10,000, for the process's RSS and for the live managed heap.
# - stream: same warm-up, 100 connections (one GET each), read /memory, open 100 streams on each whose handler waits
#   (GET /hold), wait until the server counts all 10,000 handlers waiting, read /memory: (after - before) / 10,000,
#   which is per active stream beyond its connection's own share.
# /memory runs two full blocking compacting collections first, so the managed figure is live objects only.
# Usage: build/bench-memory.sh [rounds]   (default 3; rounds interleave the engines; BENCH_PORT moves the three ports,
# default 6090-6092; MEMORY_CONNECTIONS, MEMORY_STREAM_CONNECTIONS, MEMORY_STREAMS_PER_CONNECTION and MEMORY_SETTLE
# (seconds to wait before reading /memory, default 5) change the scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
connections=${MEMORY_CONNECTIONS:-10000}
stream_connections=${MEMORY_STREAM_CONNECTIONS:-100}
streams_per_connection=${MEMORY_STREAMS_PER_CONNECTION:-100}
settle=${MEMORY_SETTLE:-5}
warm_connections=300
kestrel_port=${BENCH_PORT:-6090}
engine_port=$((kestrel_port + 1))
tree_port=$((kestrel_port + 2))
streams=$((stream_connections * streams_per_connection))

# A descriptor per connection in the server and another in the client (both inherit this shell's limit): ask for
# 65,536, or at least the hard limit when that is all this shell may have, if it leaves room for the runtime's own.
fd_needed=$((connections + 1024))
if ! ulimit -n 65536 2>/dev/null; then
  hard_limit=$(ulimit -Hn)
  if [[ $hard_limit == unlimited ]] || ((hard_limit >= fd_needed)); then
    ulimit -n "$hard_limit"
  else
    echo "bench-memory.sh: cannot raise the open-file limit to $fd_needed (soft $(ulimit -Sn), hard $hard_limit)." >&2
    echo "  $connections connections need a descriptor each in the server and in the client: raise the hard limit" >&2
    echo "  (as root with CAP_SYS_RESOURCE, or nofile in /etc/security/limits.conf) and try again." >&2
    exit 1
  fi
fi

# Every client connection to the one server port needs its own ephemeral port.
read -r port_low port_high < /proc/sys/net/ipv4/ip_local_port_range
if ((port_high - port_low + 1 < connections + 2 * warm_connections + 1000)); then
  echo "bench-memory.sh: the ephemeral port range $port_low-$port_high is too small for $connections connections" \
    "to one port (see /proc/sys/net/ipv4/ip_local_port_range)." >&2
  exit 1
fi

# Two benchmarks at once on a 2-core machine measure each other: wait for any other benchmark to finish.
if [[ -z ${H2M_BENCH_LOCK_HELD:-} ]]; then
  exec 9>/tmp/h2middleware-bench.lock
  flock 9
fi

build/install-test-deps.sh
for tool in taskset ss curl; do
  command -v $tool >/dev/null || { echo "bench-memory.sh: $tool is required" >&2; exit 1; }
done

dotnet build samples/BenchServer -c Release -v quiet -nologo 9>&- >/dev/null
dotnet build samples/ConnectionHerd -c Release -v quiet -nologo 9>&- >/dev/null
herd_dll=samples/ConnectionHerd/bin/Release/net10.0/ConnectionHerd.dll

server=
herd_in=
herd_out=
stop_server() {
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
stop_herd() {
  if [[ -n ${HERD_PID:-} ]]; then
    kill "$HERD_PID" 2>/dev/null || true
    wait "$HERD_PID" 2>/dev/null || true
  fi
  [[ -n $herd_in ]] && exec {herd_in}>&-
  [[ -n $herd_out ]] && exec {herd_out}<&-
  herd_in= herd_out=
}
trap 'stop_herd; stop_server' EXIT

# Starts a fresh server and waits until the given port answers.
start_server() {
  taskset -c 0 dotnet samples/BenchServer/bin/Release/net10.0/BenchServer.dll "$kestrel_port" "$engine_port" "$tree_port" \
    --memory 9>&- >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -s --http2-prior-knowledge "http://127.0.0.1:$1/hello" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "bench-memory.sh: the server did not answer on port $1" >&2
  return 1
}

# Prints "<managed> <heap> <rss> <held>" from the server's /memory.
memory() {
  local out
  out=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$1/memory" |
    sed -n 's/^managed=\([0-9]*\) heap=\([0-9]*\) rss=\([0-9]*\) held=\([0-9]*\)$/\1 \2 \3 \4/p')
  [[ -n $out ]] || { echo "bench-memory.sh: no answer from http://127.0.0.1:$1/memory" >&2; return 1; }
  echo "$out"
}

# Opens and closes two batches of connections, each with one GET and a few held streams: the code of both measured
# paths is compiled and the transport's buffer pool has grown before the baseline is read.
warm() {
  for _ in 1 2; do
    taskset -c 1 dotnet "$herd_dll" "$1" "$warm_connections" --get /hello --hold /hold 10 --pause-ms 1000 9>&- >/dev/null
  done
  sleep 2
}

# Starts the herd with the given arguments, its stdin and stdout kept as $herd_in and $herd_out.
start_herd() {
  coproc HERD { exec taskset -c 1 dotnet "$herd_dll" "$@" 9>&- 2>/dev/null; }
  # Duplicates: bash closes a coprocess's own descriptors as soon as it exits, possibly before its last line is read.
  exec {herd_out}<&"${HERD[0]}" {herd_in}>&"${HERD[1]}"
}

# Reads the herd's next line; fails if none comes within five minutes.
herd_line() {
  local line
  read -r -t 300 -u "$herd_out" line || { echo "bench-memory.sh: the client stopped answering" >&2; return 1; }
  echo "$line"
}

# Tells the herd to go on to its next step.
herd_continue() {
  echo >&"$herd_in"
}

# The value of key=value in a line.
field() {
  sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"
}

# KiB per unit of (after - before): "<before> <after> <units>".
per_unit_kib() {
  awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN { printf "%.2f", (a - b) / n / 1024 }'
}

# Connections established to the server's port, counted on the server's side.
established() {
  ss -Htn state established "( sport = :$1 )" | wc -l
}

# Measures memory per idle connection on one port; sets result to "<rss KiB> <managed KiB> <check>".
measure_idle() {
  local port=$1
  start_server "$port" || { result="- - no-server"; return; }
  warm "$port"
  local b_managed b_rss a_managed a_rss
  read -r b_managed _ b_rss _ < <(memory "$port")
  start_herd "$port" "$connections" --get /hello
  local connected
  connected=$(herd_line)
  sleep "$settle"
  local open
  open=$(established "$port")
  read -r a_managed _ a_rss _ < <(memory "$port")
  herd_continue
  local closed
  closed=$(herd_line)
  stop_herd
  stop_server
  local check=ok
  [[ $(field "$connected" connected) == "$connections" && $open -ge $connections && $(field "$closed" lost) == 0 ]] ||
    check="connected=$(field "$connected" connected),established=$open,lost=$(field "$closed" lost)"
  result="$(per_unit_kib "$b_rss" "$a_rss" "$connections") $(per_unit_kib "$b_managed" "$a_managed" "$connections") $check"
}

# Measures memory per active stream on one port; sets result to "<rss KiB> <managed KiB> <check>".
measure_streams() {
  local port=$1
  start_server "$port" || { result="- - no-server"; return; }
  warm "$port"
  local b_managed b_rss a_managed a_rss
  start_herd "$port" "$stream_connections" --get /hello --hold /hold "$streams_per_connection"
  local connected
  connected=$(herd_line)
  sleep "$settle"
  read -r b_managed _ b_rss _ < <(memory "$port")
  herd_continue
  herd_line >/dev/null
  local held=0
  for _ in $(seq 1 60); do
    read -r _ _ _ held < <(memory "$port")
    ((held >= streams)) && break
    sleep 1
  done
  sleep "$settle"
  read -r a_managed _ a_rss held < <(memory "$port")
  herd_continue
  local closed
  closed=$(herd_line)
  stop_herd
  stop_server
  local check=ok
  [[ $(field "$connected" connected) == "$stream_connections" && $held == "$streams" && $(field "$closed" lost) == 0 &&
    $(field "$closed" ended) == 0 ]] ||
    check="connected=$(field "$connected" connected),held=$held,lost=$(field "$closed" lost),ended=$(field "$closed" ended)"
  result="$(per_unit_kib "$b_rss" "$a_rss" "$streams") $(per_unit_kib "$b_managed" "$a_managed" "$streams") $check"
}

# The median of the numbers on stdin (lines that are not numbers are skipped), printed with %.2f.
median() {
  grep -E '^[0-9.-]+$' | grep -v '^-$' | sort -n |
    awk '{ r[NR] = $1 } END { if (NR == 0) { print "-"; exit } printf "%.2f", (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}

echo "M1: $connections idle connections (one GET each); $stream_connections connections x $streams_per_connection waiting streams; KiB per unit"
printf '%-4s %-6s %-8s %12s %14s %14s %16s  %s\n' scen round engine "conn RSS" "conn managed" "stream RSS" "stream managed" check
k_conn_rss=() k_conn_managed=() k_stream_rss=() k_stream_managed=()
e_conn_rss=() e_conn_managed=() e_stream_rss=() e_stream_managed=()
for r in $(seq 1 "$rounds"); do
  measure_idle "$kestrel_port"
  read -r k_rss k_managed k_check <<<"$result"
  measure_idle "$engine_port"
  read -r e_rss e_managed e_check <<<"$result"
  measure_streams "$kestrel_port"
  read -r ks_rss ks_managed ks_check <<<"$result"
  measure_streams "$engine_port"
  read -r es_rss es_managed es_check <<<"$result"
  k_conn_rss+=("$k_rss") k_conn_managed+=("$k_managed") k_stream_rss+=("$ks_rss") k_stream_managed+=("$ks_managed")
  e_conn_rss+=("$e_rss") e_conn_managed+=("$e_managed") e_stream_rss+=("$es_rss") e_stream_managed+=("$es_managed")
  k_all_checks="idle:$k_check stream:$ks_check"
  e_all_checks="idle:$e_check stream:$es_check"
  printf '%-4s %-6s %-8s %12s %14s %14s %16s  %s\n' M1 "$r" kestrel "$k_rss" "$k_managed" "$ks_rss" "$ks_managed" "$k_all_checks"
  printf '%-4s %-6s %-8s %12s %14s %14s %16s  %s\n' M1 "$r" ours "$e_rss" "$e_managed" "$es_rss" "$es_managed" "$e_all_checks"
done

m() { printf '%s\n' "$@" | median; }
printf 'M1   idle connection (median KiB): Kestrel RSS %s, managed %s; ours RSS %s, managed %s\n' \
  "$(m "${k_conn_rss[@]}")" "$(m "${k_conn_managed[@]}")" "$(m "${e_conn_rss[@]}")" "$(m "${e_conn_managed[@]}")"
printf 'M1   active stream (median KiB): Kestrel RSS %s, managed %s; ours RSS %s, managed %s\n' \
  "$(m "${k_stream_rss[@]}")" "$(m "${k_stream_managed[@]}")" "$(m "${e_stream_rss[@]}")" "$(m "${e_stream_managed[@]}")"
