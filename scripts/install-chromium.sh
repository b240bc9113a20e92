#!/usr/bin/env bash
# Debian's Chromium for the web UI tests (tests/e2e/test_connection_form.py), installed when
# missing. Playwright drives it as it is (no browser download of its own).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: no chromium, and no root apt-get to install it; the web UI test will be skipped (or fail under CI)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
