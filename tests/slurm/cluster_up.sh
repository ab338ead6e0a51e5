#!/usr/bin/env bash
# Bring up a real one-node SLURM cluster on 127.0.0.1 (munged, slurmctld, slurmd) for the integration test.
#
#   tests/slurm/cluster_up.sh STATE_DIR      # then: source STATE_DIR/env.sh; sinfo
#   tests/slurm/cluster_down.sh STATE_DIR    # stops exactly the daemons started here, by pid
#
# Everything (config, munge key and socket, spool, logs, pid files) lives under STATE_DIR, so the machine's
# /etc/slurm and any running munged are left alone; clients find the cluster through SLURM_CONF (env.sh).
# Installs the Debian packages when they are missing and we are root with apt-get. No accounting database:
# the executor must use `slurm-status-command: squeue`; MinJobAge keeps finished jobs visible to squeue.
set -euo pipefail

STATE=${1:?usage: cluster_up.sh STATE_DIR}
CTLD_PORT=${MUBENCH_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${MUBENCH_SLURMD_PORT:-6818}
PACKAGES=(slurmctld slurmd slurm-client munge)

die() { echo "cluster_up: $*" >&2; exit 1; }

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd sbatch squeue sinfo munged mungekey; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install ${PACKAGES[*]} (Debian) or run as root"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install ${PACKAGES[*]}"
    echo "cluster_up: installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${PACKAGES[@]}" >"$STATE/apt.log" 2>&1 \
        || { apt-get update >>"$STATE/apt.log" 2>&1 \
             && apt-get install -y --no-install-recommends "${PACKAGES[@]}" >>"$STATE/apt.log" 2>&1; } \
        || die "apt-get install ${PACKAGES[*]} failed; see $STATE/apt.log"
}

# The node is declared as a typical GPU node, larger than this machine (SlurmdParameters=config_overrides makes
# slurmctld trust these numbers instead of what slurmd measures), with one simulated GPU (gres.conf: a device file
# and no autodetection). That lets the shipped profile's requests — 8 CPUs, 48 GB and a GPU per model job, in a
# `gpu` partition separate from the default `cpu` one — be honoured exactly as written. Nothing runs on a GPU.
NODE_CPUS=${MUBENCH_SLURM_NODE_CPUS:-16}
NODE_MEM_MB=${MUBENCH_SLURM_NODE_MEM_MB:-65536}

write_slurm_conf() {
    local host
    host=$(hostname -s)
    cat >"$STATE/gres.conf" <<EOF
# Written by tests/slurm/cluster_up.sh: one simulated GPU, no device behind it.
AutoDetect=off
NodeName=$host Name=gpu File=/dev/null
EOF
    cat >"$STATE/slurm.conf" <<EOF
# Written by tests/slurm/cluster_up.sh for $host (declared $NODE_CPUS CPUs, $NODE_MEM_MB MiB, 1 simulated GPU) — a
# throwaway test cluster shaped like a university one: a default cpu partition and a gpu partition.
ClusterName=mubench-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=socket=$STATE/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# keep finished jobs visible to squeue (the executor's status command here) for 10 minutes
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_munge() {
    # munged runs as user munge, which may not traverse STATE (pytest's temp dirs are 0700): own dir in /tmp
    # "$STATE/munge" is a symlink to it so everything stays findable from STATE.
    local dir
    dir=$(mktemp -d /tmp/mubench-munge.XXXXXX)
    chmod 0755 "$dir"  # clients need x on the socket's directory
    chown munge:munge "$dir"
    ln -s "$dir" "$STATE/munge"
    mungekey --create --keyfile="$dir/munge.key" --force
    chown munge:munge "$dir/munge.key"
    runuser -u munge -- munged --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed" \
        || die "munged failed to start; see $dir/munged.log"
}

install_default_conf() {
    # Inside every job the slurm-jobstep executor starts `srun` with SLURM_* variables removed, SLURM_CONF
    # included, so that srun reads the default /etc/slurm/slurm.conf: ours goes there, never over a file we did
    # not write; cluster_down.sh removes it again.
    if [ -e /etc/slurm/slurm.conf ] && ! grep -q '^# Written by tests/slurm/cluster_up.sh' /etc/slurm/slurm.conf; then
        die "/etc/slurm/slurm.conf exists and is not ours: this machine has its own SLURM; not touching it"
    fi
    install -D -m 0644 "$STATE/slurm.conf" /etc/slurm/slurm.conf
    touch "$STATE/etc-slurm-conf-installed"
}

wait_for_idle_node() {
    for _ in $(seq 60); do
        if [ "$(sinfo -h -o %T 2>/dev/null | head -1)" = idle ]; then
            return 0
        fi
        sleep 0.5
    done
    sinfo >&2 || true
    die "node never became idle; see $STATE/log/slurmctld.log and $STATE/log/slurmd.log"
}

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
# a half-started cluster is stopped again: whatever daemons came up before the failure
trap 'status=$?; [ $status -eq 0 ] || "$(dirname "$0")/cluster_down.sh" "$STATE"; exit $status' EXIT
[ ! -e "$STATE/slurmctld.pid" ] || die "$STATE already hosts a cluster; run cluster_down.sh $STATE first"
install_packages
mkdir -p "$STATE/ctld" "$STATE/slurmd" "$STATE/log"
write_slurm_conf
install_default_conf
echo "export SLURM_CONF=$STATE/slurm.conf" >"$STATE/env.sh"
export SLURM_CONF=$STATE/slurm.conf

start_munge
slurmctld -f "$SLURM_CONF" || die "slurmctld failed to start; see $STATE/log/slurmctld.log"
slurmd -f "$SLURM_CONF" || die "slurmd failed to start; see $STATE/log/slurmd.log"
wait_for_idle_node
echo "cluster_up: node $(hostname -s) idle; SLURM_CONF=$SLURM_CONF"
