#!/bin/bash
# Installs NVIDIA's runtime compiler library from Debian's non-free section
# (libnvrtc11.2, NVRTC 11.8), so that compute/cuda's TestKernelsCompile
# compiles every CUDA kernel for sm_90 on a machine without a GPU, as CI is.
# Best effort: the test skips with the reason when NVRTC is missing.
#
#   scripts/test/nvrtc.sh          install when missing (root, Debian 12)
set -uo pipefail

if ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so\.\(11\.2\|12\|13\)'; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "nvrtc.sh: NVRTC is missing and this is not root on Debian: TestKernelsCompile will skip" >&2
	exit 0
fi
. /etc/os-release 2>/dev/null
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
	echo "nvrtc.sh: not Debian 12 (${VERSION_CODENAME:-unknown}): NVRTC not installed; TestKernelsCompile will skip" >&2
	exit 0
fi
# The non-free section only while installing; the machine's sources stay as
# they were.
src=/etc/apt/sources.list.d/dllmbench-nonfree.sources
cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
trap 'rm -f "$src"' EXIT
if apt-get update -qq -o Dir::Etc::sourcelist="$src" -o Dir::Etc::sourceparts=- >/dev/null &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libnvrtc11.2 libnvrtc-builtins11.8 >/dev/null; then
	echo "nvrtc.sh: installed libnvrtc11.2 (NVRTC 11.8) from Debian non-free" >&2
else
	echo "nvrtc.sh: could not install libnvrtc11.2 from Debian non-free: TestKernelsCompile will skip" >&2
fi
exit 0
