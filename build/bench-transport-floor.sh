#!/usr/bin/env bash
# The floor under the upload scenarios (S4, S7a): server CPU per MiB received by a connection that only reads and drops
# the bytes on the same Kestrel socket transport both engines use (BenchServer's drain endpoint), against the CPU per
# MiB of Kestrel's HTTP/2 and ours on an h2load upload scenario. Kestrel's figure over the floor's is the most any
# engine on this transport can reach against Kestrel on that scenario. Rounds interleave; medians are printed.
# Usage: build/bench-transport-floor.sh [rounds, default 5] [upload size in bytes, default 1048576 (S4); 16384 is S7a]
set -euo pipefail
cd "$(dirname "$0")/.."
source build/bench-lib.sh

rounds=${1:-5}
size=${2:-1048576}
if ((size >= 1048576)); then requests=1000 streams=(-c 4 -m 4); else requests=60000 streams=(-c 16 -m 10); fi
mib=$((requests * size / 1048576))

exec 9>/tmp/h2middleware-bench.lock
flock 9
build/install-test-deps.sh
dotnet build samples/BenchServer -c Release -v quiet -nologo 9>&- >/dev/null
work=$(mktemp -d)
head -c "$size" /dev/urandom >"$work/body"
ports=(6780 6781 6782 6783 6784 6785)
taskset -c 0 dotnet samples/BenchServer/bin/Release/net10.0/BenchServer.dll "${ports[@]}" 9>&- >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
wait_listening "${ports[@]}"

# Four connections at once, as the h2load scenarios use, each sending its share in 1 MiB writes.
drain() {
  taskset -c 1 python3 - "${ports[5]}" "$mib" <<'EOF'
import socket, sys, threading
port, mib = int(sys.argv[1]), int(sys.argv[2])
chunk = bytes(1 << 20)
def send(count):
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(count):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
threads = [threading.Thread(target=send, args=(mib // 4,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
EOF
}
upload() {
  taskset -c 1 h2load -n "$requests" "${streams[@]}" -d "$work/body" "http://127.0.0.1:$1/echo-len" >/dev/null
}
# CPU microseconds per MiB while a command runs.
per_mib() {
  local before after
  before=$(cpu_us "$server")
  "$@"
  after=$(cpu_us "$server")
  echo $(((after - before) / mib))
}

for _ in $(seq 1 10); do
  for p in "${ports[0]}" "${ports[1]}"; do taskset -c 1 h2load -n 200000 -c 16 -m 100 "http://127.0.0.1:$p/hello" >/dev/null; done
done
for _ in 1 2 3; do upload "${ports[0]}"; upload "${ports[1]}"; drain; done

floor=() kestrel=() ours=()
printf '%-6s %14s %14s %14s\n' round 'drain us/MiB' 'Kestrel us/MiB' 'ours us/MiB'
for r in $(seq 1 "$rounds"); do
  floor+=("$(per_mib drain)")
  kestrel+=("$(per_mib upload "${ports[0]}")")
  ours+=("$(per_mib upload "${ports[1]}")")
  printf '%-6s %14s %14s %14s\n' "$r" "${floor[-1]}" "${kestrel[-1]}" "${ours[-1]}"
done
f=$(median_of %.0f "${floor[@]}") k=$(median_of %.0f "${kestrel[@]}") o=$(median_of %.0f "${ours[@]}")
echo "median: drain $f, Kestrel $k, ours $o us per MiB; ours/Kestrel CPU $(awk -v k="$k" -v o="$o" 'BEGIN { printf "%.2f", k / o }');" \
  "the most any engine could reach: $(awk -v k="$k" -v f="$f" 'BEGIN { printf "%.2f", k / f }')x"
