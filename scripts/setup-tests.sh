#!/usr/bin/env bash
# Everything the test suite needs on a fresh Debian machine: numnet with its test extras (pip), and the
# system packages that tests start for real: PostgreSQL (hyperparameter search across machines) and
# Chromium with its driver (the lab, driven in a real headless browser). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python -m pip install -q -e ".[test]"
