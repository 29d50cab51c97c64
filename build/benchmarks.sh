#!/usr/bin/env bash
# Runs the BenchmarkDotNet micro-benchmarks (frame codec, HPACK) with allocation counts.
# Usage: build/benchmarks.sh [BenchmarkDotNet arguments]   (default: every benchmark, short job)
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
((${#args[@]})) || args=(--filter '*' --job short)
dotnet run -c Release --project test/H2Middleware.Benchmarks -- "${args[@]}"
