#!/bin/bash
# sched.sh - the scheduler with many jobs: start-up time, resident memory,
# idle CPU and the time of `jobs` over telnet. Not a test: it prints
# medians, with a 100-job run as the baseline measured in the same run.
#
# Every job has one fresh revision tagged weekly (interval 1w), so nothing
# comes due while it runs: this measures the scheduler, not backups.
#
# Environment:
#   BENCH_JOBS   number of jobs (default 10000)
#   BENCH_IDLE   seconds of idle CPU measurement (default 60)
#   BENCH_RUNS   `jobs` requests, median reported (default 5)
#   BENCH_TMP    scratch directory parent (default /var/tmp)
#   BACKY_BUILD  build directory with bin/ (default build)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BACKY_BUILD:-build}
case "$BUILD" in /*) BIN=$BUILD/bin ;; *) BIN=$ROOT/$BUILD/bin ;; esac
NJOBS=${BENCH_JOBS:-10000}
IDLE=${BENCH_IDLE:-60}
RUNS=${BENCH_RUNS:-5}

for t in backy-sched backy-telnetd backy-backup; do
    [ -x "$BIN/$t" ] || { echo "bench/sched.sh: error: $BIN/$t: not built" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench/sched.sh: error: python3: not installed" >&2; exit 1; }

SCRATCH=$(mktemp -d "${BENCH_TMP:-/var/tmp}/backy-bench-sched.XXXXXX")
chmod 755 "$SCRATCH"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# setup N DIR PORT: N job directories with one fresh weekly revision each
# and the main config DIR/backy.conf
setup() {
    python3 - "$1" "$2" "$3" <<'EOF'
import datetime, os, sys
n, d, port = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = d + "/jobs"
os.makedirs(base)
src = d + "/source"
open(src, "wb").write(b"\0" * 4096)
now = datetime.datetime.now(datetime.timezone.utc).isoformat(sep=" ")
with open(d + "/backy.conf", "w") as c:
    c.write(f"config:\n  base-dir: {base}\n  worker-limit: 4\n  telnet-port: {port}\n"
            f"  telnet-addrs: 127.0.0.1\n"
            "schedules:\n  w:\n    weekly: {interval: 1w, keep: 4}\njobs:\n")
    for i in range(n):
        name = f"vm{i:05d}"
        c.write(f"  {name}:\n    schedule: w\n    source: {{type: file, filename: {src}}}\n")
        j = f"{base}/{name}"
        os.mkdir(j)
        open(j + "/config", "w").write(f"type: file\nfilename: {src}\n")
        # a valid ID (base57 alphabet: no 0, 1, I, O, l)
        alpha = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
        k, rid = i, ""
        for _ in range(6):
            rid += alpha[k % 57]
            k //= 57
        rid = "R" + rid + "A" * 15
        open(f"{j}/{rid}", "wb").close()
        open(f"{j}/{rid}.rev", "w").write(
            f"uuid: {rid}\ntimestamp: {now}\nparent: ''\n"
            "stats:\n  bytes_written: 4096\n  duration: 1.5\ntags:\n- weekly\n")
EOF
}

# jobs_time PORT CMD: seconds until the reply to CMD is complete
jobs_time() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = b""
while not buf.endswith(b"% "):
    buf += s.recv(65536)
t0 = time.monotonic()
s.sendall(sys.argv[2].encode() + b"\r\n")
buf = b""
while not buf.endswith(b"\r\nbacky-2.0 % "):
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    buf += chunk
t = time.monotonic() - t0
s.close()
print(f"{t:.4f} {buf.count(b'| vm')}")
EOF
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run N: start a scheduler over N jobs, print "startup_s rss_kib"
run() {
    local n=$1 d=$SCRATCH/n$1 port
    mkdir -p "$d"
    port=$(free_port)
    setup "$n" "$d" "$port"
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN/backy-sched" -c "$d/backy.conf" >"$d/sched.out" 2>&1 &
    SPID=$!
    PIDS="$PIDS $SPID"
    while ! grep -q "telnet: listening" "$d/sched.out" 2>/dev/null; do
        kill -0 "$SPID" 2>/dev/null || { cat "$d/sched.out" >&2; exit 1; }
        sleep 0.05
    done
    while [ ! -s "$d/jobs/status" ]; do sleep 0.05; done
    t1=$(date +%s.%N)
    PORT=$port
    DIR=$d
    STARTUP=$(echo "$t1 - $t0" | bc -l)
    RSS=$(awk '/^VmRSS/ { print $2 }' "/proc/$SPID/status")
}

echo "backy scheduler benchmark: $NJOBS jobs (baseline: 100 jobs), $(nproc) CPUs"

run 100
B_START=$STARTUP B_RSS=$RSS B_PORT=$PORT B_PID=$SPID
B_JOBS=$(for _ in $(seq "$RUNS"); do jobs_time "$B_PORT" jobs | cut -d' ' -f1; done | median)

run "$NJOBS"
started=$(grep -o 'scheduler started in [0-9.]* s' "$DIR/sched.out" | grep -o '[0-9.]*' | head -1)
rows=$(jobs_time "$PORT" jobs | cut -d' ' -f2)
[ "$rows" = "$NJOBS" ] || { echo "bench/sched.sh: error: jobs listed $rows rows, expected $NJOBS" >&2; exit 1; }
J=$(for _ in $(seq "$RUNS"); do jobs_time "$PORT" jobs | cut -d' ' -f1; done | median)
JR=$(for _ in $(seq "$RUNS"); do jobs_time "$PORT" 'jobs ^vm0000[12]$' | cut -d' ' -f1; done | median)
P=$(for _ in $(seq "$RUNS"); do
    python3 -c 'import json, sys, time; t = time.monotonic(); json.load(open(sys.argv[1])); print(time.monotonic() - t)' "$DIR/jobs/status"
done | median)

# idle: nothing is due; the only work is the status file every 30 s
c0=$(cpu_ticks "$SPID")
sleep "$IDLE"
c1=$(cpu_ticks "$SPID")
HZ=$(getconf CLK_TCK)
CPU=$(echo "($c1 - $c0) / $HZ" | bc -l)
PCT=$(echo "100 * $CPU / $IDLE" | bc -l)
started_jobs=$(grep -c "backup started" "$DIR/sched.out" || true)

printf '\n%-44s %12s %12s %8s\n' "measure" "100 jobs" "$NJOBS jobs" "ratio"
printf '%-44s %12.2f %12.2f %8.1f\n' "start-up until telnet + status file (s)" "$B_START" "$STARTUP" "$(echo "$STARTUP / $B_START" | bc -l)"
printf '%-44s %12s %12s\n' "  of which reading config + job dirs (s)" "" "$started"
printf '%-44s %12d %12d %8.1f\n' "resident memory (KiB)" "$B_RSS" "$RSS" "$(echo "$RSS / $B_RSS" | bc -l)"
printf '%-44s %12.4f %12.4f %8.1f\n' "'jobs' over telnet, median (s)" "$B_JOBS" "$J" "$(echo "$J / $B_JOBS" | bc -l)"
printf '%-44s %12s %12.4f\n' "'jobs REGEX' (2 rows), median (s)" "" "$JR"
printf '%-44s %12s %12.4f %8.1f\n' "python3 json.load of the status file (s)" "" "$P" "$(echo "$J / $P" | bc -l)"
printf '%-44s %12s %12.3f\n' "idle CPU over ${IDLE} s (CPU s)" "" "$CPU"
printf '%-44s %12s %11.3f%%\n' "idle CPU share" "" "$PCT"
printf '%-44s %12s %12s\n' "backups started (expected 0)" "" "$started_jobs"
echo "(ratio: $NJOBS jobs / 100 jobs; for json.load: telnet jobs / json.load)"
