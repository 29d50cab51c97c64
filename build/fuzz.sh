#!/usr/bin/env bash
# Long local fuzz runs of the serve loop (not for CI). Runs the same xunit test as CI's fixed-seed pass,
# SessionFuzzTests.GeneratedSessionsNeverCrashHangOrLeak, with the FUZZ_* environment variables:
#   FUZZ_SECONDS=600        run for this long (default when neither FUZZ_SECONDS nor FUZZ_CASES is set: 600)
#   FUZZ_CASES=100000       or this many cases (whichever ends first when both are set)
#   FUZZ_SEED=12345         the run's seed (default: a new one, printed); the same seed and count replay the same cases
#   FUZZ_REPLAY=<seed>      run one case alone, from the CsCheck seed string a failure printed, then shrink it
#   FUZZ_SHRINK_SECONDS=60  how long CsCheck may shrink a failure (0: do not shrink)
#   FUZZ_KEEP_GOING=1       keep going after a failure and report each distinct one (default here: 1)
#   FUZZ_IGNORE=a,b         set aside failures whose message contains one of these (findings already recorded)
#   FUZZ_VERBOSE=1          print every case's outcome
#   FUZZ_LOG=file           where progress goes as the run goes (default: artifacts/fuzz/fuzz-<seed>.log, followed here)
# Usage: build/fuzz.sh            FUZZ_SECONDS=3600 build/fuzz.sh            FUZZ_REPLAY=0MAW2D5fCoA7 build/fuzz.sh
# Progress and failures are followed on stderr as the run goes; the full report ends the test's output.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${FUZZ_SECONDS:-}" && -z "${FUZZ_CASES:-}" && -z "${FUZZ_REPLAY:-}" ]]; then
  export FUZZ_SECONDS=600
fi
if [[ -z "${FUZZ_SEED:-}" && -z "${FUZZ_REPLAY:-}" ]]; then
  FUZZ_SEED=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  export FUZZ_SEED
fi
export FUZZ_KEEP_GOING=${FUZZ_KEEP_GOING:-1}
mkdir -p artifacts/fuzz
export FUZZ_LOG=${FUZZ_LOG:-artifacts/fuzz/fuzz-${FUZZ_SEED:-replay}.log}
: > "$FUZZ_LOG"
FUZZ_LOG=$(realpath "$FUZZ_LOG")

echo "fuzz: seed=${FUZZ_SEED:-} seconds=${FUZZ_SECONDS:-} cases=${FUZZ_CASES:-} replay=${FUZZ_REPLAY:-} log=$FUZZ_LOG" >&2
dotnet build test/H2Middleware.Tests -c Release -v quiet -nologo >/dev/null
tail -n +1 -f "$FUZZ_LOG" >&2 &
follower=$!
trap 'kill $follower 2>/dev/null' EXIT
status=0
dotnet test test/H2Middleware.Tests -c Release --no-build \
  --filter "FullyQualifiedName~H2Middleware.Tests.Fuzzing.SessionFuzzTests.GeneratedSessionsNeverCrashHangOrLeak" \
  --logger "console;verbosity=normal" || status=$?
exit $status
