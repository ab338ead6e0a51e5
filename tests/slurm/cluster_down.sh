#!/usr/bin/env bash
# Stop the daemons that tests/slurm/cluster_up.sh STATE_DIR started — each by the pid in its pid file, nothing else.
set -uo pipefail

STATE=${1:?usage: cluster_down.sh STATE_DIR}
status=0

stop_pidfile() {
    local name=$1 pidfile=$2 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "cluster_down: $name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -KILL "$pid"
            status=1
        fi
    fi
    rm -f "$pidfile"
}

# order: compute daemon, controller, then the authentication daemon both of them use
stop_pidfile slurmd "$STATE/slurmd.pid"
stop_pidfile slurmctld "$STATE/slurmctld.pid"
stop_pidfile munged "$STATE/munge/munged.pid"
# munge's key and socket live in a /tmp dir of their own (see cluster_up.sh); $STATE/munge links to it
if [ -L "$STATE/munge" ]; then
    rm -rf -- "$(readlink "$STATE/munge")" && rm -f "$STATE/munge"
fi
if [ -e "$STATE/etc-slurm-conf-installed" ] && cmp -s "$STATE/slurm.conf" /etc/slurm/slurm.conf; then
    rm -f /etc/slurm/slurm.conf "$STATE/etc-slurm-conf-installed"
fi
exit $status
