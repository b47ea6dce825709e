#!/bin/bash
# Installs Debian's chromium, which report's browser test (TestBrowser in
# report/browser_test.go) drives headless to check report.html, with
# fonts-liberation, the font the figures are drawn in. Recommended packages
# are left out: headless Chromium needs none of them.
#
#   scripts/test/chromium.sh          install chromium when missing (root only)
#   scripts/test/chromium.sh check    exit 1 and say so when it is missing
#
# Where it cannot install (not root, no apt-get) it says why and exits 0:
# the browser test then skips, except under CI=true, where it fails and
# names the cause.
set -euo pipefail

have() {
	command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]
}

if have; then
	exit 0
fi
if [ "${1:-}" = check ]; then
	echo "chromium.sh: chromium is not installed" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "chromium.sh: chromium is missing and this is not root, so it is not installed (TestBrowser will skip; as root: apt-get install --no-install-recommends chromium fonts-liberation)" >&2
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium.sh: chromium is missing and there is no apt-get, so it is not installed (TestBrowser will skip; install chromium with this system's package manager)" >&2
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
install() {
	apt-get install -y -q --no-install-recommends chromium fonts-liberation
}
# A fresh container has no package lists: read them once when the first
# attempt cannot find the package.
if ! install; then
	apt-get update -q
	install
fi
have || { echo "chromium.sh: apt-get installed chromium but it is not on PATH nor at /usr/bin/chromium" >&2; exit 1; }
echo "chromium.sh: installed $(chromium --version 2>/dev/null | tail -n 1)"
