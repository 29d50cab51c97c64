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
# Usage: build/fuzz.sh            FUZZ_SECONDS=3600 build/fuzz.sh            FUZZ_REPLAY=0MAW2D5fCoA7 build/fuzz.sh
# Progress and the summary go to stderr as the run goes; the exit code is the test's.
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
export FUZZ_PROGRESS=1

echo "fuzz: seed=${FUZZ_SEED:-} seconds=${FUZZ_SECONDS:-} cases=${FUZZ_CASES:-} replay=${FUZZ_REPLAY:-}" >&2
dotnet build test/H2Middleware.Tests -c Release -v quiet -nologo >/dev/null
exec dotnet test test/H2Middleware.Tests -c Release --no-build \
  --filter "FullyQualifiedName~H2Middleware.Tests.Fuzzing.SessionFuzzTests.GeneratedSessionsNeverCrashHangOrLeak" \
  --logger "console;verbosity=normal"
