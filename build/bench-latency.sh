#!/usr/bin/env bash
# Uploads over a long path (issue 10's adaptive receive windows): H2Middleware with adaptive receive windows (its
# default), H2Middleware with fixed windows and Kestrel's own HTTP/2, each behind an in-process proxy that delivers every
# chunk a fixed one-way delay after it arrives (latency without a bandwidth limit), all on 127.0.0.1 in one process
# (samples/LatencyUpload). Each round uploads once to each endpoint over a new connection, the order rotating; prints
# every round's MB/s and the medians, for each one-way delay in turn.
# Usage: build/bench-latency.sh [MiB, default 32] [rounds, default 5] [one-way delays in ms, default 0 5 25]
set -euo pipefail
cd "$(dirname "$0")/.."
mebibytes=${1:-32}
rounds=${2:-5}
delays=("${@:3}")
((${#delays[@]})) || delays=(0 5 25)

# Two benchmarks at once on a 2-core machine measure each other: wait for any other benchmark to finish.
if [[ -z ${H2M_BENCH_LOCK_HELD:-} ]]; then
  exec 9>/tmp/h2middleware-bench.lock
  flock 9
fi

dotnet build samples/LatencyUpload -c Release -v quiet -nologo 9>&- >/dev/null
for delay in "${delays[@]}"; do
  dotnet samples/LatencyUpload/bin/Release/net10.0/LatencyUpload.dll "$mebibytes" "$rounds" "$delay" 9>&-
done
