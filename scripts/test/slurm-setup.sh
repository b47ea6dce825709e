#!/bin/bash
# Installs what scripts/test/slurm-local.sh needs (munge and the SLURM
# controller, node daemon and clients) from the distribution's packages,
# without recommends. Nothing is started: while apt-get runs, a temporary
# /usr/sbin/policy-rc.d (exit 101) stops the packages' scripts from starting
# system daemons, unless the machine already has such a file.
#
#   scripts/test/slurm-setup.sh          install what is missing (root only)
#   scripts/test/slurm-setup.sh check    exit 1 and name what is missing
#
# Without root it installs nothing: it says what is missing and exits 0, so
# that 'make test' goes on (the cluster test then skips, or fails under
# CI=true). It exits 1 when apt-get fails.
set -euo pipefail

pkgs=(slurmctld slurmd slurm-client munge)
cmds=(slurmctld slurmd sbatch squeue scontrol scancel sinfo munged mungekey)

missing() {
	local c out=()
	for c in "${cmds[@]}"; do
		command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || out+=("$c")
	done
	echo "${out[*]}"
}

m=$(missing)
if [ -z "$m" ]; then
	exit 0
fi
if [ "${1:-}" = check ]; then
	echo "slurm-setup: missing: $m" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "slurm-setup: missing $m; not root, so not installing (as root: apt-get install --no-install-recommends ${pkgs[*]})" >&2
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "slurm-setup: missing $m and no apt-get: install ${pkgs[*]} with this system's package manager" >&2
	exit 0
fi

policy=/usr/sbin/policy-rc.d
added=
cleanup() { if [ -n "$added" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# temporary, from dllmbench scripts/test/slurm-setup.sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	added=1
fi

log=${TMPDIR:-/tmp}/slurm-setup-apt.log
echo "slurm-setup: installing ${pkgs[*]} (log: $log)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update && apt-get install -y --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	echo "slurm-setup: apt-get failed (log: $log)" >&2
	exit 1
fi
m=$(missing)
if [ -n "$m" ]; then
	echo "slurm-setup: still missing after the install: $m" >&2
	exit 1
fi
echo "slurm-setup: $(slurmd -V 2>/dev/null), $(munged --version 2>/dev/null | head -n1)" >&2
