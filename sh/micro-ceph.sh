#!/bin/bash
# micro-ceph.sh - a throwaway one-node Ceph cluster for backy's tests and
# benchmarks: one monitor and one OSD on memstore, bound to 127.0.0.1, all
# state under one directory. No mgr is started (nothing here needs one).
#
#   sh/micro-ceph.sh start DIR   create the cluster in DIR (must not hold one),
#                                create pool "rbd"; prints the client environment
#   sh/micro-ceph.sh stop DIR    stop exactly the daemons "start" recorded
#   sh/micro-ceph.sh env DIR     print the client environment (export lines)
#
# Knobs (environment):
#   MICRO_CEPH_PORT      monitor msgr2 port (msgr1 uses PORT+1); default: a free one
#   MICRO_CEPH_SIZE_GB   memstore capacity in GiB (default 8)
#   MICRO_CEPH_AUTH      cephx (default) or none
# Needs the Debian packages ceph-mon, ceph-osd, ceph-common (Ceph 16).
set -euo pipefail

prog=micro-ceph
die() { echo "$prog: error: $*" >&2; exit 1; }

usage() { die "usage: $0 start|stop|env DIR"; }
[ $# -eq 2 ] || usage
action=$1
DIR=$(realpath -m "$2")

pick_port() {
    # two consecutive free ports (msgr2 and msgr1) on 127.0.0.1
    python3 -c '
import random, socket
for _ in range(500):
    p = random.randrange(20000, 60000, 2)
    try:
        socks = []
        for q in (p, p + 1):
            s = socket.socket(); socks.append(s); s.bind(("127.0.0.1", q))
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(p); break'
}

# A pid is ours while it lives, is not a zombie and was started with our conf.
ours() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-c $DIR/ceph.conf"
}

# Daemons run in the foreground as our background children with every fd
# redirected, so $! is the daemon and no test runner pipe stays open.
launch() {
    local name=$1; shift
    "$@" -f </dev/null >"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/run/$name.pid"
}

# await SECONDS DAEMON WHAT cmd...: retry cmd; fail early if DAEMON exited.
await() {
    local secs=$1 daemon=$2 what=$3; shift 3
    local deadline=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        ours "$(cat "$DIR/run/$daemon.pid")" ||
            die "$daemon exited while waiting for $what: $(tail -n 3 "$DIR/log/$daemon.log" 2>/dev/null | tr '\n' ' ')"
        [ $SECONDS -lt $deadline ] || die "timed out waiting for $what (logs in $DIR/log)"
        sleep 0.1
    done
}

quiet() {
    local out
    out=$("$@" 2>&1) || die "$* failed: $out"
}

osd_is_up() {
    ceph osd dump -f json | python3 -c '
import json, sys
sys.exit(0 if any(o["up"] for o in json.load(sys.stdin)["osds"]) else 1)'
}

print_env() {
    echo "export CEPH_CONF=$DIR/ceph.conf"
    echo "export CEPH_ARGS='--id admin'"
}

stop_daemon() {
    local pidfile="$DIR/run/$1.pid" pid i
    [ -e "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            ours "$pid" || break
            sleep 0.1
        done
        if ours "$pid"; then
            echo "$prog: $1 (pid $pid) still running after SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

do_stop() {
    # the OSD first: it reports its shutdown to the monitor
    stop_daemon osd.0
    stop_daemon mon.a
    rm -f "$DIR"/run/*.asok "$DIR"/run/*.cephpid
}

write_conf() {
    local port=$1 auth=$2 fsid=$3 bytes=$4
    cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
ms bind retry delay = 1
auth cluster required = $auth
auth service required = $auth
auth client required = $auth
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.cephpid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1
# Snapshot create/remove changes the osdmap; with the default proposal
# interval of 1 s every backup would wait for it.
paxos propose interval = 0.01
paxos min wait = 0.01
osd mon shutdown timeout = 1
client mount timeout = 30
[mon]
mon data = $DIR/mon/\$id
mon cluster log file = $DIR/log/cluster.log
mon initial members = a
mon mgr mkfs grace = 31536000
[osd]
osd data = $DIR/osd/\$id
osd objectstore = memstore
memstore device bytes = $bytes
osd op num shards = 2
osd op num threads per shard = 1
[client]
admin socket =
log file =
rados mon op timeout = 30
rados osd op timeout = 60
EOF
}

do_start() {
    local port=${MICRO_CEPH_PORT:-$(pick_port)}
    local auth=${MICRO_CEPH_AUTH:-cephx}
    local gb=${MICRO_CEPH_SIZE_GB:-8}
    [ -n "$port" ] || die "no free port found"
    [ ! -e "$DIR/ceph.conf" ] || die "a cluster already exists: $DIR"
    mkdir -p "$DIR"/run "$DIR"/log "$DIR"/crash "$DIR"/mon/a "$DIR"/osd/0
    # whatever fails from here on: stop what was started, keep DIR for its logs
    trap 'rc=$?; if [ $rc -ne 0 ]; then echo "$prog: start failed; logs in $DIR/log" >&2; do_stop; fi' EXIT

    local fsid osd_uuid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$port" "$auth" "$fsid" $((gb << 30))

    # All keys go into one keyring that mon --mkfs imports with their caps.
    ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' \
        --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    ceph-authtool "$DIR/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
        --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
    monmaptool --create --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]" "$DIR/monmap" >/dev/null
    ceph-mon -c "$DIR/ceph.conf" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
        >"$DIR/log/mon.mkfs.out" 2>&1 || die "ceph-mon --mkfs failed: $DIR/log/mon.mkfs.out"
    launch mon.a ceph-mon -c "$DIR/ceph.conf" -i a
    # The OSD's mkfs needs no monitor when told not to fetch its config.
    ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --no-mon-config --monmap "$DIR/monmap" \
        --osd-uuid "$osd_uuid" >"$DIR/log/osd.mkfs.out" 2>&1 ||
        die "ceph-osd --mkfs failed: $DIR/log/osd.mkfs.out"

    export CEPH_CONF="$DIR/ceph.conf" CEPH_ARGS="--id admin"
    await 30 mon.a "the monitor" ceph --connect-timeout 5 mon stat
    quiet ceph osd new "$osd_uuid" 0
    launch osd.0 ceph-osd -c "$DIR/ceph.conf" -i 0
    quiet ceph osd pool create rbd 8 8 replicated
    await 60 osd.0 "osd.0 to come up" osd_is_up
    quiet rbd pool init rbd
    echo "$prog: cluster running in $DIR (monitor 127.0.0.1:$port)" >&2
    print_env
}

case $action in
    start) do_start ;;
    stop) do_stop ;;
    env) print_env ;;
    *) usage ;;
esac
