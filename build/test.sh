#!/usr/bin/env bash
# The project's test command: installs what the tests need, runs every test project,
# and closes with one line: "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

build/install-test-deps.sh

results=artifacts/test-results
rm -rf "$results"
set +e
dotnet test H2Middleware.sln -c Release --logger trx --results-directory "$results" "$@"
status=$?
set -e

passed=0 failed=0 skipped=0 found=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  found=1
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  attr() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  passed=$((passed + $(attr passed)))
  failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
  skipped=$((skipped + $(attr notExecuted)))
done

if ((found == 0)); then
  echo "no test results were written"
  echo "tests: 0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
if ((status != 0 || failed != 0)); then exit 1; fi
