#!/usr/bin/env bash
# Packs the H2Middleware NuGet package (.nupkg with README and licence, plus the .snupkg symbols package).
# Usage: build/pack.sh [output folder]   (default: artifacts/packages)
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-artifacts/packages}"
mkdir -p "$out"
dotnet pack src/H2Middleware/H2Middleware.csproj -c Release -o "$out" --nologo -v quiet
ls -1 "$out"/H2Middleware.*nupkg
