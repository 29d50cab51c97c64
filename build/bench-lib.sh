# Helpers of build/bench.sh, sourced by it: h2load runs, server CPU time, medians and the rows of its tables.
# They read bench.sh's globals (scenarios, scenario_args, scenario_scheme).

clock_ticks=$(getconf CLK_TCK)

# A process's CPU time so far, in microseconds (utime + stime from /proc).
cpu_us() {
  awk -v hz="$clock_ticks" '{ printf "%d", ($14 + $15) * 1000000 / hz }' "/proc/$1/stat"
}

# Runs h2load once for a scenario against a port; prints "<req/s> <failed>".
run() {
  local port=$1 scenario=$2
  local args=($(scenario_args "$scenario"))
  local path=${args[-1]}
  unset 'args[-1]'
  local out
  out=$(taskset -c 1 h2load "${args[@]}" "$(scenario_scheme "$scenario")://127.0.0.1:$port$path" 2>&1)
  local rps failed
  rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  failed=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' <<<"$out")
  echo "${rps:-0} $((${failed:-1}))"
}

# Whether the scenario was asked for.
selected() {
  [[ " ${scenarios[*]} " == *" $1 "* ]]
}

# The number of requests of an h2load scenario (its -n).
requests_of() {
  local args=($(scenario_args "$1"))
  echo "${args[1]}"
}

# Stops the script with a message on stderr.
fail() {
  echo "bench.sh: $*" >&2
  exit 1
}

# Waits (up to 30 s) until every given port on 127.0.0.1 is listening, from /proc/net/tcp alone: no byte is sent to the
# server, so nothing of either engine runs before the measured requests.
wait_listening() {
  local port
  for port in "$@"; do
    for _ in $(seq 1 150); do
      awk -v p="$(printf ':%04X' "$port")" '$2 ~ p "$" && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp && continue 2
      sleep 0.2
    done
    fail "nothing listens on port $port"
  done
}

# The median of the numbers on stdin, printed with the given format (default %.2f).
median() {
  sort -n | awk -v format="${1:-%.2f}" '{ r[NR] = $1 } END { printf format, (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}

# The median of the arguments that are numbers, printed with the format given first.
median_of() {
  local format=$1; shift
  printf '%s\n' "$@" | grep -v '^-$' | median "$format"
}

print_table_header() {
  printf '%-4s %-6s %12s %12s %8s %10s %10s %s\n' scen round kestrel ours ratio "k us/req" "us/req" failed
}

# One round of an h2load scenario: prints its row and adds it to the scenario's arrays (ratios, k_cpus, e_cpus,
# cpu_ratios). Arguments: scenario, round, requests, then Kestrel's and ours' req/s, failed count and CPU time (us).
record_round() {
  local s=$1 r=$2 requests=$3 k_rps=$4 k_failed=$5 k_cpu_us=$6 e_rps=$7 e_failed=$8 e_cpu_us=$9
  local k_cpu e_cpu ratio
  k_cpu=$(awk -v d="$k_cpu_us" -v n="$requests" 'BEGIN { printf "%.1f", d / n }')
  e_cpu=$(awk -v d="$e_cpu_us" -v n="$requests" 'BEGIN { printf "%.1f", d / n }')
  ratio=$(awk -v e="$e_rps" -v k="$k_rps" 'BEGIN { printf "%.2f", (k > 0 ? e / k : 0) }')
  ratios+=("$ratio") k_cpus+=("$k_cpu") e_cpus+=("$e_cpu")
  cpu_ratios+=("$(awk -v e="$e_cpu" -v k="$k_cpu" 'BEGIN { printf "%.2f", (e > 0 ? k / e : 0) }')")
  printf '%-4s %-6s %12s %12s %8s %10s %10s k=%s ours=%s\n' "$s" "$r" "$k_rps" "$e_rps" "$ratio" "$k_cpu" "$e_cpu" "$k_failed" "$e_failed"
}

# The scenario's two median lines, from the arrays record_round filled; the median ratio is also left in
# last_median_ratio.
report_scenario() {
  local s=$1
  last_median_ratio=$(median_of %.2f "${ratios[@]}")
  printf '%s\n' "${ratios[@]}" | awk -v s="$s" -v m="$last_median_ratio" '{ t += $1 }
    END { printf "%-4s ratio ours/Kestrel: mean %.2f, median %.2f\n", s, t / NR, m }'
  printf '%-4s server CPU per request (median): Kestrel %s us, ours %s us; Kestrel/ours median %s\n' "$s" \
    "$(median_of %.2f "${k_cpus[@]}")" "$(median_of %.2f "${e_cpus[@]}")" "$(median_of %.2f "${cpu_ratios[@]}")"
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
