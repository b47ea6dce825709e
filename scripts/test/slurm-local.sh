#!/bin/bash
# A single-node SLURM cluster on loopback for tests: munged, slurmctld and
# slurmd run as root from one directory, with no systemd and no cgroups
# (see the project's notes on slurm-local for why each setting is there).
#
#   slurm-local.sh start  [DIR]   start what is not running; print "export SLURM_CONF=..." lines
#   slurm-local.sh stop   [DIR]   cancel all jobs, then stop exactly the daemons DIR's PID files name
#   slurm-local.sh status [DIR]   exit 0 when all three daemons run and the node answers
#   slurm-local.sh env    [DIR]   print the export lines
#
# DIR defaults to $SLURM_LOCAL_DIR, else /tmp/slurm-local; every parent of it
# must be world-executable (munged checks) and the path short (socket paths
# are limited to 108 bytes). Settings, fixed when DIR is first configured and
# kept in DIR/settings.env:
#   SLURM_LOCAL_CTLD_PORT (6817), SLURM_LOCAL_SLURMD_PORT (6818),
#   SLURM_LOCAL_CPUS (as `slurmd -C` finds; more is allowed and oversubscribes),
#   SLURM_LOCAL_WAIT (60: seconds to wait for the node, and for jobs on stop),
#   SLURM_LOCAL_CRED_EXPIRE (10, at least 5: a requeued job may start again
#   this many seconds + 1 after its requeue; SLURM's default is 120),
#   SLURM_LOCAL_GPUS (0, at most 5: GPUs the node offers as GRES gpu; their
#   device files are /dev/null, /dev/zero, … which nothing opens, there
#   being no cgroups, so that SLURM allocates them, sets CUDA_VISIBLE_DEVICES
#   and SLURM_GPUS_ON_NODE and refuses requests as for real GPUs).
# The main scheduler runs every 2 s (sched_interval), not 60: otherwise a
# requeued job that has become eligible waits for the next submission.
# start and stop are idempotent; a start that fails stops what it started.
# The daemons bind 0.0.0.0 (SLURM has no setting for that): the munge key in
# DIR is the only protection.
set -euo pipefail

cmd=${1:-}
D=${2:-${SLURM_LOCAL_DIR:-/tmp/slurm-local}}
case "$D" in /*) ;; *) D=$PWD/$D ;; esac
D=${D%/}
WAIT=${SLURM_LOCAL_WAIT:-60}

die() { echo "slurm-local: $*" >&2; exit 1; }

# alive NAME PIDFILE: the PID in PIDFILE when that process runs NAME, else nothing.
alive() {
	local pid comm
	[ -r "$2" ] || return 1
	pid=$(tr -dc 0-9 <"$2")
	[ -n "$pid" ] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	case "$comm" in "$1"*) echo "$pid" ;; *) return 1 ;; esac
}

munge_pid() { alive munged "$D/munge/munged.pid"; }
ctld_pid() { alive slurmctld "$D/run/slurmctld.pid"; }
slurmd_pid() { alive slurmd "$D/run/slurmd.pid"; }

print_env() {
	echo "export SLURM_CONF=$D/slurm.conf"
	echo "export SLURM_LOCAL_DIR=$D"
}

# settings: read DIR/settings.env, or fix them from the environment.
settings() {
	if [ -r "$D/settings.env" ]; then
		# shellcheck disable=SC1091
		. "$D/settings.env"
		return
	fi
	CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
	SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
	CPUS=${SLURM_LOCAL_CPUS:-}
	CRED_EXPIRE=${SLURM_LOCAL_CRED_EXPIRE:-10}
	GPUS=${SLURM_LOCAL_GPUS:-0}
	printf 'CTLD_PORT=%s\nSLURMD_PORT=%s\nCPUS=%s\nCRED_EXPIRE=%s\nGPUS=%s\n' "$CTLD_PORT" "$SLURMD_PORT" "$CPUS" "$CRED_EXPIRE" "$GPUS" >"$D/settings.env"
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_state() { SLURM_CONF=$D/slurm.conf timeout 5 sinfo -h -n localhost -o %t 2>/dev/null || true; }

write_conf() {
	local hw cpus over="" gres="" gpus=${GPUS:-0} devs
	case "$gpus" in
	0) ;;
	[1-5])
		devs=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom)
		printf 'Name=gpu File=%s\n' "${devs[@]:0:$gpus}" >"$D/gres.conf"
		gres="Gres=gpu:$gpus"
		;;
	*) die "SLURM_LOCAL_GPUS=$gpus: want 0 to 5" ;;
	esac
	hw=$(slurmd -C | head -n 1) || die "slurmd -C failed"
	# NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
	hw=${hw#NodeName=* }
	cpus=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$hw")
	if [ -n "$CPUS" ] && [ "$CPUS" != "$cpus" ]; then
		[[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_CPUS=$CPUS is not a positive number"
		mem=$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
		hw="CPUs=$CPUS RealMemory=$mem"
		over="SlurmdParameters=config_overrides"
	fi
	cat >"$D/slurm.conf" <<CONF
# written by slurm-local.sh for $D
ClusterName=localtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket,cred_expire=$CRED_EXPIRE
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
MinJobAge=3600
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=1
DependencyParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
KillWait=5
InactiveLimit=0
$over
${gres:+GresTypes=gpu}
NodeName=localhost NodeAddr=127.0.0.1 $hw $gres State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

# stop_pids PID...: TERM them, wait up to 15 s, then KILL what is left.
stop_pids() {
	local p left
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null || true
	for _ in $(seq 150); do
		left=()
		for p in "$@"; do [ -d "/proc/$p" ] && left+=("$p"); done
		[ ${#left[@]} -gt 0 ] || return 0
		sleep 0.1
	done
	kill -KILL "${left[@]}" 2>/dev/null || true
}

do_stop() {
	local pids=() p ids
	if [ -r "$D/slurm.conf" ] && ctld_pid >/dev/null; then
		export SLURM_CONF=$D/slurm.conf
		ids=$(timeout 10 squeue -h -t PD,R,CG,S,CF,RQ,RS,SI,SO,ST -o %i 2>/dev/null || true)
		if [ -n "$ids" ]; then
			# shellcheck disable=SC2086
			timeout 10 scancel $ids 2>/dev/null || true
			for _ in $(seq $((WAIT * 5))); do
				[ -z "$(timeout 10 squeue -h -t R,CG,S,SI,SO -o %i 2>/dev/null || true)" ] && break
				sleep 0.2
			done
		fi
	fi
	# Read every PID before signalling: the daemons remove their PID files.
	for f in slurmd_pid ctld_pid munge_pid; do
		if p=$($f); then pids+=("$p"); fi
	done
	stop_pids "${pids[@]}"
}

do_start() {
	if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
		die "slurmctld or munged not found: run scripts/test/slurm-setup.sh (as root)"
	fi
	[ "$(id -u)" = 0 ] || die "start needs root (the daemons run as root)"
	[ ${#D} -le 60 ] || die "$D is too long for the munge socket path; use a shorter DIR"
	local p=$D
	mkdir -p "$D"
	chmod 755 "$D"
	while p=$(dirname "$p"); [ "$p" != / ]; do
		case "$(stat -c %A "$p")" in
		?????????[xt]) ;;
		*) die "$p is not world-executable (munged needs o+x on every parent of its socket)" ;;
		esac
	done
	if munge_pid >/dev/null && ctld_pid >/dev/null && slurmd_pid >/dev/null && [ "$(node_state)" = idle ]; then
		print_env
		return 0
	fi
	mkdir -p "$D"/{state,spool,log,run,jobs,munge}
	chmod 755 "$D/munge"
	settings
	started=()
	trap 'if [ ${#started[@]} -gt 0 ]; then echo "slurm-local: start failed; stopping what it started" >&2; stop_pids "${started[@]}"; fi' EXIT

	if ! munge_pid >/dev/null; then
		if [ ! -s "$D/munge/munge.key" ]; then
			mungekey --create --keyfile="$D/munge/munge.key" >/dev/null
			chmod 600 "$D/munge/munge.key"
		fi
		rm -f "$D/munge/munge.socket" "$D/munge/munge.socket.lock"
		munged --key-file="$D/munge/munge.key" --socket="$D/munge/munge.socket" \
			--pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" \
			--seed-file="$D/munge/munged.seed" --origin=127.0.0.1 ||
			die "munged did not start (see $D/munge/munged.log)"
		started+=("$(munge_pid)")
	fi
	if ! ctld_pid >/dev/null && ! slurmd_pid >/dev/null; then
		for port in "$CTLD_PORT" "$SLURMD_PORT"; do
			port_taken "$port" && die "port $port is taken: another cluster? set SLURM_LOCAL_CTLD_PORT/SLURM_LOCAL_SLURMD_PORT for a fresh DIR"
		done
		write_conf
	fi
	export SLURM_CONF=$D/slurm.conf
	if ! ctld_pid >/dev/null; then
		slurmctld -f "$SLURM_CONF" || die "slurmctld did not start (see $D/log/slurmctld.log)"
		for _ in $(seq 50); do ctld_pid >/dev/null && break; sleep 0.1; done
		p=$(ctld_pid) || die "slurmctld exited (see $D/log/slurmctld.log)"
		started+=("$p")
	fi
	if ! slurmd_pid >/dev/null; then
		slurmd -f "$SLURM_CONF" -N localhost || die "slurmd did not start (see $D/log/slurmd.log)"
		for _ in $(seq 50); do slurmd_pid >/dev/null && break; sleep 0.1; done
		p=$(slurmd_pid) || die "slurmd exited (see $D/log/slurmd.log)"
		started+=("$p")
	fi
	local deadline=$((SECONDS + WAIT)) st
	while st=$(node_state); [ "$st" != idle ] && [ "$st" != mix ] && [ "$st" != alloc ]; do
		[ $SECONDS -lt $deadline ] || die "the node is not idle after ${WAIT}s (state '${st}'; see $D/log/)"
		ctld_pid >/dev/null || die "slurmctld died (see $D/log/slurmctld.log)"
		slurmd_pid >/dev/null || die "slurmd died (see $D/log/slurmd.log)"
		sleep 0.2
	done
	started=()
	print_env
}

do_status() {
	local rc=0 name
	for name in munged slurmctld slurmd; do
		case $name in munged) f=munge_pid ;; slurmctld) f=ctld_pid ;; slurmd) f=slurmd_pid ;; esac
		if p=$($f); then echo "$name: running, pid $p"; else echo "$name: not running"; rc=1; fi
	done
	if [ $rc = 0 ]; then echo "node: $(node_state)"; fi
	return $rc
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) print_env ;;
*) die "usage: slurm-local.sh start|stop|status|env [DIR]" ;;
esac
