#!/usr/bin/env bash
# Soak: mixed traffic against the engine for a while (10 minutes by default), sampling the server's resident memory,
# open file descriptors and threads every 10 seconds; the figures should be flat after warm-up. Not run by CI.
# Traffic, all on 127.0.0.1, every loop bounded by the deadline: small requests (h2load), 1 MiB downloads, 1 MiB
# uploads, downloads cut off mid-body (curl --max-time, an abrupt disconnect), streams reset by the client
# (nghttp with a short timeout), and gRPC-style many-stream connections (h2load -m 100).
# Usage: build/soak.sh [seconds]   (default 600). Prints one line per sample and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
kestrel_port=6090
engine_port=6091

build/install-test-deps.sh
dotnet build samples/BenchServer -c Release -v quiet -nologo >/dev/null
dotnet samples/BenchServer/bin/Release/net10.0/BenchServer.dll "$kestrel_port" "$engine_port" "$((kestrel_port + 2))" "$((kestrel_port + 3))" "$((kestrel_port + 4))" &
server=$!
payload=$(mktemp)
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$payload"' EXIT
head -c 1048576 /dev/urandom > "$payload"
base="http://127.0.0.1:$engine_port"
for _ in $(seq 1 50); do
  curl -s --http2-prior-knowledge "$base/hello" >/dev/null 2>&1 && break
  sleep 0.2
done

deadline=$((SECONDS + duration))
traffic() {
  while ((SECONDS < deadline)); do timeout 60 "$@" >/dev/null 2>&1 || true; done
}
clients=()
traffic h2load -n 20000 -c 8 -m 50 "$base/hello" & clients+=($!)
traffic h2load -n 40 -c 2 -m 4 "$base/bytes/1048576" & clients+=($!)
traffic h2load -n 40 -c 2 -m 4 -d "$payload" "$base/echo-len" & clients+=($!)
traffic curl -s --http2-prior-knowledge --max-time 0.05 -o /dev/null "$base/bytes/104857600" & clients+=($!)
traffic nghttp -t 0.05 "$base/bytes/104857600" & clients+=($!)
traffic h2load -n 2000 -c 1 -m 100 "$base/hello" & clients+=($!)

sample() {
  local rss fds threads
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$server/status")
  fds=$(ls "/proc/$server/fd" | wc -l)
  threads=$(awk '/Threads/ { print $2 }' "/proc/$server/status")
  echo "$rss $fds $threads"
}

printf '%8s %12s %6s %8s\n' seconds rss_kib fds threads
samples=()
start=$SECONDS
while ((SECONDS < deadline)); do
  sleep 10
  read -r rss fds threads < <(sample)
  samples+=("$((SECONDS - start)) $rss $fds $threads")
  printf '%8s %12s %6s %8s\n' "$((SECONDS - start))" "$rss" "$fds" "$threads"
done
wait "${clients[@]}" 2>/dev/null || true

# Flat after warm-up: compare the second sample with the last.
read -r _ rss_early fds_early _ <<<"${samples[1]:-${samples[0]}}"
read -r _ rss_last fds_last _ <<<"${samples[-1]}"
echo "after warm-up: rss ${rss_early} KiB -> ${rss_last} KiB, fds ${fds_early} -> ${fds_last}"
curl -s --http2-prior-knowledge "$base/hello" >/dev/null && echo "server still answers"
