#!/bin/bash
# push.sh - backy push of an incremental revision to a second btrfs, through
# a pipe (local target) and through ssh to 127.0.0.1 (an sshd of its own on
# a free port), against a local incremental backup of the same change and
# against rsync --inplace --no-whole-file of the image over the same ssh
# onto a reflink copy of the previous one. Needs root. Not a test: prints
# medians of interleaved runs and ratios against baselines of the same run.
#
# The far side of ssh is a receiving account of its own, as
# doc/replication.md recommends (backy-copies there): the bench makes a
# temporary system user backy-bench (login shell /bin/sh, no rc files, home
# in the scratch directory) that owns the receiving filesystem, and removes
# it at the end. Push and rsync log in as that user. BENCH_SSH_USER=root
# logs in as root instead (its login shell and rc files then count too).
#
# Environment:
#   BENCH_SSH_USER  the account on the far side: backy-bench (default) or root
#   BENCH_SIZE   image size (default 4G)
#   BENCH_RUNS   runs, median reported (default 3)
#   BENCH_TMP    scratch directory parent (default /var/tmp)
#   BACKY_BUILD  build directory with bin/ (default build)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BACKY_BUILD:-build}
case "$BUILD" in /*) BIN=$BUILD/bin ;; *) BIN=$ROOT/$BUILD/bin ;; esac
SIZE=${BENCH_SIZE:-4G}
RUNS=${BENCH_RUNS:-3}

if [ "$(id -u)" != 0 ]; then
    echo "bench/push.sh: skipped: needs root (loop devices, sshd)"
    exit 0
fi
for t in backy backy-backup backy-send backy-receive backy-push; do
    [ -x "$BIN/$t" ] || { echo "bench/push.sh: error: $BIN/$t: not built" >&2; exit 1; }
done
for t in rsync python3 btrfs ssh ssh-keygen /usr/sbin/sshd; do
    command -v "$t" >/dev/null || { echo "bench/push.sh: error: $t: not installed" >&2; exit 1; }
done

. "$ROOT/sh/testenv.sh"
export TESTENV_DIRECT_IO=1
SSH_USER=${BENCH_SSH_USER:-backy-bench}
case "$SSH_USER" in
root | backy-bench) ;;
*) echo "bench/push.sh: error: BENCH_SSH_USER=$SSH_USER: backy-bench or root" >&2; exit 1 ;;
esac
if [ "$SSH_USER" = backy-bench ] && getent passwd backy-bench >/dev/null; then
    echo "bench/push.sh: error: user backy-bench exists (left by a killed run? userdel backy-bench)" >&2
    exit 1
fi
SCRATCH=$(mktemp -d "${BENCH_TMP:-/var/tmp}/backy-bench-push.XXXXXX")
SSHD_PID=
MADE_USER=
cleanup() {
    [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
    [ -n "$MADE_USER" ] && userdel backy-bench 2>/dev/null
    testenv_cleanup "$SCRATCH" >/dev/null 2>&1 || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

SIZE_B=$(numfmt --from=iec "$SIZE")
A=$(testenv_mkfs btrfs "$SCRATCH" a $((SIZE_B * 3 + 1024 * 1024 * 1024)))
B=$(testenv_mkfs btrfs "$SCRATCH" b $((SIZE_B * 4 + 1024 * 1024 * 1024)))
RES=$SCRATCH/results
: >"$RES"
if [ "$SSH_USER" = backy-bench ]; then
    # a locked account ('!') cannot log in with a key when sshd runs without PAM
    useradd --system --no-create-home --home-dir "$SCRATCH/home" --shell /bin/sh -p '*' backy-bench
    MADE_USER=1
    mkdir -p "$SCRATCH/home"
    chown backy-bench "$SCRATCH/home" "$B"
    chmod 711 "$SCRATCH"
fi

# sshd on 127.0.0.1 with keys of its own
S=$SCRATCH/ssh
mkdir -p "$S" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$S/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$S/clientkey"
cp "$S/clientkey.pub" "$S/authorized_keys"
# sshd reads it as the user who logs in
chmod 644 "$S/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$S/sshd_config" <<EOC
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/hostkey
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
EOC
/usr/sbin/sshd -f "$S/sshd_config" -E "$S/sshd.log"
for _ in $(seq 1 100); do [ -s "$S/sshd.pid" ] && break; sleep 0.05; done
SSHD_PID=$(cat "$S/sshd.pid")
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$S/hostkey.pub")" >"$S/known_hosts"
export BACKY_SSH="ssh -p $PORT -i $S/clientkey -o BatchMode=yes -o UserKnownHostsFile=$S/known_hosts -o LogLevel=ERROR"
export BACKY_REMOTE_BACKY=$BIN/backy

measure() {
    local name=$1
    shift
    python3 "$ROOT/bench/timeit.py" "$SCRATCH/time.out" "$@" >>"$SCRATCH/cmd.log" 2>&1 || {
        echo "bench/push.sh: error: $name failed: $*" >&2
        tail -5 "$SCRATCH/cmd.log" >&2
        exit 1
    }
    echo "$name $(tail -1 "$SCRATCH/time.out")" >>"$RES"
}

change() {
    python3 - "$1" "$2" <<'EOP'
import os, random, sys
path, seed = sys.argv[1], sys.argv[2]
bs = 65536
fd = os.open(path, os.O_WRONLY)
n = os.fstat(fd).st_size // bs
rng = random.Random(seed)
picks = rng.sample(range(n), max(1, n // 100))
for b in picks:
    os.pwrite(fd, os.urandom(bs), b * bs)
os.fsync(fd)
print(len(picks) * bs)
EOP
}

# stream bytes of the last send the log shows
stream_bytes() { grep -o '[0-9]* stream bytes' "$SCRATCH/cmd.log" | tail -1 | cut -d' ' -f1; }
last() { readlink "$A/job/last"; }

echo "# making a ${SIZE_B}-byte random image and the first copies" >&2
head -c "$SIZE_B" /dev/urandom >"$A/src"
"$BIN/backy" -b "$A/job" init file "$A/src" >>"$SCRATCH/cmd.log" 2>&1
"$BIN/backy-backup" -b "$A/job" daily >>"$SCRATCH/cmd.log" 2>&1
"$BIN/backy" -b "$A/job" push "$B/pipe" >>"$SCRATCH/cmd.log" 2>&1
"$BIN/backy" -b "$A/job" push "$SSH_USER@127.0.0.1:$B/ssh" >>"$SCRATCH/cmd.log" 2>&1
cp --reflink=always "$B/ssh/$(last)" "$B/rsync.img"

for i in $(seq "$RUNS"); do
    echo "# run $i of $RUNS" >&2
    changed=$(change "$A/src" "push$i")
    echo "changed_bytes $changed 0" >>"$RES"
    cat "$A/src" >/dev/null
    measure backup "$BIN/backy-backup" -b "$A/job" daily
    measure push_pipe "$BIN/backy" -b "$A/job" push "$B/pipe"
    echo "wire_pipe $(stream_bytes) 0" >>"$RES"
    measure push_ssh "$BIN/backy" -b "$A/job" push "$SSH_USER@127.0.0.1:$B/ssh"
    echo "wire_ssh $(stream_bytes) 0" >>"$RES"
    sync
    echo "exclusive $(btrfs filesystem du --raw "$B/ssh/$(last)" | awk 'NR == 2 { print $2 }') 0" >>"$RES"
    # rsync: the previous state is a reflink copy on the far side
    rm -f "$B/rsync.img"
    cp --reflink=always "$B/ssh/$(basename "$(ls -tr "$B"/ssh/*.rev | tail -2 | head -1)" .rev)" "$B/rsync.img"
    chown "$SSH_USER" "$B/rsync.img"
    cat "$A/job/$(last)" >/dev/null
    measure rsync rsync -e "$BACKY_SSH" --inplace --no-whole-file --ignore-times \
        "$A/job/$(last)" "$SSH_USER@127.0.0.1:$B/rsync.img"
    cmp "$A/job/$(last)" "$B/rsync.img"
    cmp "$A/job/$(last)" "$B/ssh/$(last)"
    cmp "$A/job/$(last)" "$B/pipe/$(last)"
done

python3 - "$RES" "$SIZE_B" "$SSH_USER" <<'EOP'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
for line in open(sys.argv[1]):
    n, v, _ = line.split()
    vals[n].append(float(v))
size = int(sys.argv[2])
med = lambda n: statistics.median(vals[n])
blocks = (size + 65535) // 65536
sums = 48 + 16 * blocks
changed = med("changed_bytes")
print("\npush: image %.2f GiB, %d of 64 KiB blocks changed (1%%), median of %d runs, ssh as %s"
      % (size / (1 << 30), changed / 65536, len(vals["backup"]), sys.argv[3]))
print("%-52s %12s %9s  %-8s %s" % ("measurement", "median", "ratio", "goal", "met"))
def row(label, v, unit, ratio=None, goal=None, ok=None):
    print("%-52s %12s %9s  %-8s %s" % (label, ("%.3f s" % v) if unit == "s" else ("%d B" % v),
          "" if ratio is None else "%.3fx" % ratio, goal or "", "" if ok is None else ("yes" if ok else "NO")))
row("changed bytes", changed, "B")
row("sums of the new revision", sums, "B")
for w in ("wire_pipe", "wire_ssh"):
    r = med(w) / (changed + sums)
    row("stream bytes (%s) / (changed + sums)" % w[5:], med(w), "B", r, "<= 1.02", r <= 1.02)
r = med("exclusive") / changed
row("exclusive bytes of the received revision / changed", med("exclusive"), "B", r, "<= 1.05", r <= 1.05)
b = med("backup")
row("local incremental backup", b, "s")
for p in ("push_pipe", "push_ssh"):
    r = med(p) / b
    row("%s / backup" % p, med(p), "s", r, "<= 1.5", r <= 1.5)
r = med("rsync") / med("push_ssh")
row("rsync --inplace over ssh / push_ssh (speed-up)", med("rsync"), "s", r, ">= 10", r >= 10)
print("each run: push_ssh %s s; rsync %s s; speed-up %s" % (
    " ".join("%.3f" % v for v in vals["push_ssh"]), " ".join("%.3f" % v for v in vals["rsync"]),
    " ".join("%.1fx" % (b / a) for a, b in zip(vals["push_ssh"], vals["rsync"]))))
EOP
