#!/usr/bin/env bash
# Bytes allocated per request by the whole server process (hosting, routing and the endpoint included, the same for
# both engines), on Kestrel's HTTP/2 and on ours: GC.GetTotalAllocatedBytes read from /allocated around a warmed run.
# Usage: build/allocations.sh
set -euo pipefail
cd "$(dirname "$0")/.."
kestrel_port=6280
engine_port=6281

build/install-test-deps.sh
dotnet build samples/BenchServer -c Release -v quiet -nologo >/dev/null
taskset -c 0 dotnet samples/BenchServer/bin/Release/net10.0/BenchServer.dll "$kestrel_port" "$engine_port" "$((kestrel_port + 2))" "$((kestrel_port + 3))" "$((kestrel_port + 4))" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  curl -s --http2-prior-knowledge "http://127.0.0.1:$engine_port/hello" >/dev/null 2>&1 && break
  sleep 0.2
done

allocated() { curl -s --http2-prior-knowledge "http://127.0.0.1:$1/allocated"; }

# Per request over one h2load run: "<bytes per request>".
per_request() {
  local port=$1 requests=$2; shift 2
  local before after
  before=$(allocated "$port")
  taskset -c 1 h2load -n "$requests" "$@" >/dev/null
  after=$(allocated "$port")
  echo $(((after - before) / requests))
}

for port in $kestrel_port $engine_port; do
  for _ in $(seq 1 5); do
    taskset -c 1 h2load -n 200000 -c 16 -m 100 "http://127.0.0.1:$port/hello" >/dev/null
  done
done

printf '%-28s %10s %10s\n' run kestrel ours
printf '%-28s %10s %10s\n' "S1 /hello (B/request)" \
  "$(per_request $kestrel_port 200000 -c 16 -m 100 "http://127.0.0.1:$kestrel_port/hello")" \
  "$(per_request $engine_port 200000 -c 16 -m 100 "http://127.0.0.1:$engine_port/hello")"
printf '%-28s %10s %10s\n' "S3 /bytes/1MiB (B/request)" \
  "$(per_request $kestrel_port 2000 -c 4 -m 4 "http://127.0.0.1:$kestrel_port/bytes/1048576")" \
  "$(per_request $engine_port 2000 -c 4 -m 4 "http://127.0.0.1:$engine_port/bytes/1048576")"
