#!/usr/bin/env bash
# Installs the Debian packages the product and its tests need, only when one is missing.
# chromium: the browser tests (Playwright drives /usr/bin/chromium); fonts for readable pages;
# wrk: the load generator of bench/api_throughput.py; golang-go: the Go SDK example test.
set -euo pipefail
packages=(chromium fonts-dejavu-core wrk golang-go)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
