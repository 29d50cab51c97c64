#!/usr/bin/env bash
# Installs the independent HTTP/2 clients the interop tests drive (curl, nghttp, h2load) and the browser
# the browser test drives (Debian's chromium, at /usr/bin/chromium), and unzip, if missing.
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v nghttp >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v h2load >/dev/null 2>&1 || { [[ " ${missing[*]} " == *" nghttp2-client "* ]] || missing+=(nghttp2-client); }
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
# build/bench.sh's C0 takes the ReadyToRun assembly out of the package.
command -v unzip >/dev/null 2>&1 || missing+=(unzip)

if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v node >/dev/null 2>&1 || echo "warning: node is not on PATH; the Node http2 interop tests will fail" >&2
