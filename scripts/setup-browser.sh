#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests (tests/web), unless it is there.
# Idempotent and quick when /usr/bin/chromium already exists. Needs root, or sudo without
# a password; otherwise it says what to run and exits 0 (the web tests then skip, or fail
# when CI is set).
set -euo pipefail

# NEXUS_CHROMIUM may name another Chromium for the tests; Debian's lands in /usr/bin.
CHROMIUM=/usr/bin/chromium

if [ -x "${NEXUS_CHROMIUM:-$CHROMIUM}" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: $CHROMIUM not found and apt-get is not available;" \
    "install Chromium by hand to run the dashboard's browser tests." >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "setup-browser: $CHROMIUM not found; run as root:" \
    "apt-get update && apt-get install -y chromium" >&2
  exit 0
fi

echo "setup-browser: installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
timeout 600 "${SUDO[@]}" apt-get update -qq
timeout 900 "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "setup-browser: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "setup-browser: $("$CHROMIUM" --version 2>/dev/null || echo chromium installed)" >&2
