#!/usr/bin/env bash
# Installs Debian's chromium for the connection-form browser test, if it is missing.
# Called by the end-to-end tests' set-up (tests/e2e/browser.py); idempotent and quiet when present.
# Playwright drives this browser through executable_path: we never run `playwright install`.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser: need root or sudo to apt-get install chromium" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "install-browser: chromium did not install at /usr/bin/chromium" >&2; exit 1; }
