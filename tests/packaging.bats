#!/usr/bin/env bats
# packaging.bats - what an operator installs around the programs: --version,
# make install / uninstall, the systemd units (systemd-analyze verify and
# security), the scheduler's readiness notification, bash completion, the
# logrotate snippet.

load lib/common
load lib/sched

# The Debian package is built once per run of this suite (about a minute),
# from a copy of the tree, into $BATS_FILE_TMPDIR/deb.
setup_file() {
    local d=$BATS_FILE_TMPDIR/deb
    mkdir -p "$d/src"
    (cd "$BATS_TEST_DIRNAME/.." && tar --exclude=./build --exclude='./debian/backy' \
        --exclude='./debian/.debhelper' --exclude='./debian/files' --exclude='./debian/*.substvars' \
        --exclude='./debian/*.log' -cf - .) | tar -C "$d/src" -xf -
    if command -v dpkg-buildpackage >/dev/null; then
        (cd "$d/src" && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -b -us -uc >"$d/build.log" 2>&1)
        echo $? >"$d/rc"
    else
        echo "dpkg-buildpackage missing (packages dpkg-dev, debhelper)" >"$d/build.log"
        echo 127 >"$d/rc"
    fi
}

# the programs built (every cmd/NAME)
programs() {
    local d
    for d in "$BACKY_ROOT"/cmd/*/; do
        d=${d%/}
        echo "${d##*/}"
    done
}

@test "--version: every program prints its name and the build's version" {
    local want p errs=""
    want=$(sed -n 's/^#define BACKY_VERSION "\(.*\)"$/\1/p' "$BACKY_ROOT/${BACKY_BUILD}/version.h")
    [ -n "$want" ] || fail "no version in version.h"
    # git describe (a tag), or the Makefile's VERSION (+g and the commit)
    local mkver
    mkver=$(sed -n 's/^VERSION := //p' "$BACKY_ROOT/Makefile")
    [[ $want == "$mkver" || $want == "$mkver+g"* ]] ||
        [[ $want == "$(git -C "$BACKY_ROOT" describe --tags --dirty 2>/dev/null)" ]] ||
        fail "version $want is neither VERSION ($mkver) nor git describe"
    for p in $(programs); do
        run "$BACKY_BIN/$p" --version
        [ "$status" = 0 ] && [ "$output" = "$p $want" ] ||
            errs="$errs
$p: status $status: $output"
    done
    [ -z "$errs" ] || fail "$errs"
    # through the front command and after other options too
    run backy -b /nonexistent status --version
    assert_success
    assert_equal "$output" "backy $want"
}

# units NAME...: the unit templates made for the built programs in $T/units
make_units() {
    local f
    mkdir -p "$T/units" "$T/man/man1" "$T/man/man5" "$T/man/man7"
    for f in "$BACKY_ROOT"/systemd/*.in; do
        sed "s|@BINDIR@|$BACKY_BIN|g" "$f" >"$T/units/$(basename "$f" .in)"
    done
    # systemd-analyze verify looks up Documentation=man:... with man(1)
    cp "$BACKY_ROOT"/man/*.1 "$T/man/man1/"
    cp "$BACKY_ROOT"/man/*.5 "$T/man/man5/"
    cp "$BACKY_ROOT"/man/*.7 "$T/man/man7/" 2>/dev/null || true
}

@test "systemd: systemd-analyze verify passes on every unit" {
    command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (package systemd)"
    make_units
    local n
    n=$(find "$T/units" -name 'backy-*' | wc -l)
    [ "$n" -ge 5 ] || fail "only $n units"
    cd "$T/units"
    run env MANPATH="$T/man" systemd-analyze verify ./*.service ./*.timer
    assert_success
    [ -z "$output" ] || fail "verify said: $output"
    # a broken unit is caught: the check can fail
    sed 's/^Type=notify$/Type=nonsense/' backy-scheduler.service >"$T/broken.service"
    run env MANPATH="$T/man" systemd-analyze verify "$T/broken.service"
    assert_output_contains "Failed to parse service type"
}

# exposure UNITFILE: the overall exposure level systemd-analyze security
# --offline gives the unit (with the drop-ins beside it)
exposure() {
    local out
    out=$(systemd-analyze security --offline=true --no-pager "$1") || fail "security failed: $out"
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out"
}

@test "systemd: the units run as the user backy without capabilities; the scheduler's exposure (systemd-analyze security --offline) is below 2.5, as backy-sched(1) and README record" {
    make_units
    local unit exp
    for unit in backy-scheduler.service backy-backup@.service backy-expire.service; do
        grep -qx 'User=backy' "$T/units/$unit" || fail "$unit: no User=backy"
        grep -qx 'Group=backy' "$T/units/$unit" || fail "$unit: no Group=backy"
        grep -qx 'CapabilityBoundingSet=' "$T/units/$unit" || fail "$unit: capabilities"
        ! grep -q '^CapabilityBoundingSet=.' "$T/units/$unit" || fail "$unit: capabilities"
        run systemd-analyze security --offline=true --no-pager "$T/units/$unit"
        assert_success
        assert_output_matches '✓ User=/DynamicUser= +Service runs under a static non-root user identity'
        assert_output_matches '✓ CapabilityBoundingSet=~CAP_SET\(UID\|GID\|PCAP\) '
        assert_output_matches '✓ CapabilityBoundingSet=~CAP_\(DAC_\*\|FOWNER\|IPC_OWNER\) '
    done
    exp=$(exposure "$T/units/backy-scheduler.service")
    [ -n "$exp" ] || fail "no exposure level"
    echo "# backy-scheduler.service exposure $exp" >&3
    awk -v e="$exp" 'BEGIN { exit !(e < 2.5) }' || fail "exposure $exp"
    grep -qF "exposure level $exp" "$BACKY_ROOT/man/backy-sched.1" ||
        fail "backy-sched(1) does not record exposure $exp"
    grep -qF "exposure $exp by \`systemd-analyze security --offline\`" "$BACKY_ROOT/README.md" ||
        fail "README.md does not record exposure $exp"
}

# the drop-in of backy-sched(1) for sources only root may read: the
# example (.nf to .fi) with User=root in it
root_dropin() {
    awk '/^\.nf$/ { b = ""; inb = 1; next }
         /^\.fi$/ { if (b ~ /\nUser=root\n/) printf "%s", b; inb = 0; next }
         inb { b = b $0 "\n" }' "$BACKY_ROOT/man/backy-sched.1" | sed 's/\\-/-/g'
}

@test "systemd: backy-sched(1)'s drop-in runs the scheduler as root again with exactly the launcher's capabilities" {
    make_units
    local d=$T/units/backy-scheduler.service.d want got
    mkdir -p "$d"
    root_dropin >"$d/root.conf"
    grep -qx 'User=root' "$d/root.conf" || fail "no User=root in the drop-in: $(cat "$d/root.conf")"
    # the capabilities are the launcher's .keep_caps (cmd/backy-sched/launcher.c)
    want=$(sed -n '/\.keep_caps =/,/\.run_as_user/p' "$BACKY_ROOT/cmd/backy-sched/launcher.c" |
        grep -o 'CAP_[A-Z_]*' | sort -u | tr '\n' ' ')
    got=$(sed -n 's/^CapabilityBoundingSet=//p' "$d/root.conf" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')
    [ -n "$want" ] || fail "no capabilities found in launcher.c"
    assert_equal "$got" "$want"
    cd "$T/units"
    run env MANPATH="$T/man" systemd-analyze verify ./backy-scheduler.service
    assert_success
    [ -z "$output" ] || fail "verify said: $output"
    run systemd-analyze security --offline=true --no-pager ./backy-scheduler.service
    assert_success
    assert_output_matches '✗ User=/DynamicUser= +Service runs as root user'
    assert_output_matches '✗ CapabilityBoundingSet=~CAP_SET\(UID\|GID\|PCAP\) '
    # the figure backy-sched(1) gives for it
    exp=$(exposure ./backy-scheduler.service)
    echo "# backy-scheduler.service as root: exposure $exp" >&3
    grep -qF "exposure level $exp as root" "$BACKY_ROOT/man/backy-sched.1" ||
        fail "backy-sched(1) does not record exposure $exp as root"
}

@test "systemd: the scheduler sends READY=1 from its own pid once the status file is written; children do not inherit NOTIFY_SOCKET" {
    mkdir -p "$T/srv"
    local port
    port=$(free_port)
    sched_conf "$T/backy.conf" "$T/srv" "$port" 2 \
        "    default:
        daily: {interval: 1d, keep: 3}" ""
    python3 - "$T/notify" "$T/ready" <<'EOF' &
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.settimeout(60)
msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
pid = next(struct.unpack("iII", d)[0] for lvl, typ, d in anc
           if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write("%s %d %d\n" % (msg.decode(), pid, os.path.exists(os.path.join(os.path.dirname(sys.argv[1]), "srv", "status"))))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
EOF
    track_pid $!
    wait_for 10 test -S "$T/notify"
    NOTIFY_SOCKET=$T/notify start_sched "$T/backy.conf"
    wait_for 30 test -f "$T/ready"
    read -r msg pid status_there <"$T/ready"
    assert_equal "$msg" "READY=1"
    assert_equal "$pid" "$SCHED_PID"
    assert_equal "$status_there" 1
    local tpid
    wait_for 10 sched_child backy-telnetd
    tpid=$(sched_child backy-telnetd)
    ! tr '\0' '\n' <"/proc/$tpid/environ" | grep -q '^NOTIFY_SOCKET=' || fail "telnetd has NOTIFY_SOCKET"
    stop_sched
    assert_equal "$SCHED_RC" 0
}

@test "systemd: without NOTIFY_SOCKET the scheduler starts as before" {
    mkdir -p "$T/srv"
    sched_conf "$T/backy.conf" "$T/srv" "$(free_port)" 2 \
        "    default:
        daily: {interval: 1d, keep: 3}" ""
    env -u NOTIFY_SOCKET "$BACKY_BIN/backy-sched" -c "$T/backy.conf" >>"$T/sched.out" 2>&1 3>&- &
    SCHED_PID=$!
    track_pid "$SCHED_PID"
    wait_for 30 grep -q "scheduler started" "$T/sched.out"
    stop_sched
    assert_equal "$SCHED_RC" 0
}

@test "make install puts programs, man pages, units, completion and logrotate snippet in place; make uninstall removes them all" {
    local root=$T/root
    run make -s -C "$BACKY_ROOT" install DESTDIR="$root" PREFIX=/usr LOGROTATEDIR=/etc/logrotate.d
    assert_success
    local p
    for p in $(programs); do
        [ -x "$root/usr/bin/$p" ] || fail "missing program $p"
        [ -e "$root/usr/share/bash-completion/completions/$p" ] || fail "missing completion for $p"
    done
    [ -f "$root/usr/share/man/man1/backy-mount.1" ] || fail "missing man page"
    for p in backy-scheduler.service backy-backup@.service backy-backup@.timer backy-expire.service backy-expire.timer; do
        [ -f "$root/usr/lib/systemd/system/$p" ] || fail "missing unit $p"
    done
    grep -q '^ExecStart=/usr/bin/backy-sched ' "$root/usr/lib/systemd/system/backy-scheduler.service" ||
        fail "unit not made for /usr/bin"
    # the units run as backy; the sysusers.d snippet creates that user
    for p in backy-scheduler.service backy-backup@.service backy-expire.service; do
        grep -qx 'User=backy' "$root/usr/lib/systemd/system/$p" || fail "$p: no User=backy"
    done
    [ "$(stat -c %a "$root/usr/lib/sysusers.d/backy.conf")" = 644 ] || fail "missing sysusers.d/backy.conf"
    mkdir -p "$T/sysroot/etc"
    run systemd-sysusers --root="$T/sysroot" "$root/usr/lib/sysusers.d/backy.conf"
    assert_success
    assert_equal "$(cut -d: -f1,5- "$T/sysroot/etc/passwd")" "backy:backy backups:/srv/backy:/usr/sbin/nologin"
    assert_equal "$(cut -d: -f1 "$T/sysroot/etc/group")" "backy"
    # a system user whose primary group is that group
    [ "$(cut -d: -f3 "$T/sysroot/etc/passwd")" -lt 1000 ] || fail "not a system uid: $(cat "$T/sysroot/etc/passwd")"
    assert_equal "$(cut -d: -f3 "$T/sysroot/etc/group")" "$(cut -d: -f4 "$T/sysroot/etc/passwd")"
    [ -f "$root/etc/logrotate.d/backy" ] || fail "missing logrotate snippet"
    run make -s -C "$BACKY_ROOT" uninstall DESTDIR="$root" PREFIX=/usr LOGROTATEDIR=/etc/logrotate.d
    assert_success
    run find "$root" ! -type d
    assert_equal "$output" ""
}

@test "logrotate: the installed snippet passes logrotate -d, and a rotated log is reopened" {
    command -v logrotate >/dev/null || fail "logrotate missing (package logrotate)"
    mkdir -p "$T/log"
    sed "s|/var/log/backy.log /var/log/backy/\*.log|$T/log/backy.log|; s|/srv/backy/\*/backy.log|$T/srv/*/backy.log|" "$BACKY_ROOT/logrotate/backy" >"$T/lr.conf"
    grep -q "^$T/log/backy.log {" "$T/lr.conf" || fail "snippet's path line changed: $(grep '{' "$T/lr.conf")"
    grep -q "^$T/srv/\*/backy.log {" "$T/lr.conf" || fail "snippet's path line changed: $(grep '{' "$T/lr.conf")"
    sed -i 's/create 0640 root adm/create 0640 root root/' "$T/lr.conf"
    echo "first" >"$T/log/backy.log"
    run logrotate -d -s "$T/lr.state" "$T/lr.conf"
    assert_success
    assert_output_contains "rotating pattern: $T/log/backy.log"
    run logrotate -d -s "$T/lr.state" "$BACKY_ROOT/logrotate/backy"
    assert_success
    # a real rotation, then a program logs to the old name again
    run logrotate -f -s "$T/lr.state" "$T/lr.conf"
    assert_success
    [ -f "$T/log/backy.log.1" ] || fail "not rotated: $(ls "$T/log")"
    make_source "$T/src.img" 1M
    backy -l "$T/log/backy.log" -b "$T/job" init file "$T/src.img"
    grep -q "initialised job directory" "$T/log/backy.log" || fail "no new log: $(ls -l "$T/log")"
}

@test "logrotate: a job's log of the user backy is backy's again after rotation, and a backup as backy writes to it" {
    require_root_or_skip
    id -u backy >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin backy ||
        id -u backy >/dev/null 2>&1 || fail "cannot create user backy"
    chmod 755 "$T"
    # the tools where backy can run them (the build tree may be private)
    mkdir -p "$T/bin" "$T/srv"
    cp "$BACKY_BIN"/backy "$BACKY_BIN"/backy-* "$T/bin/"
    chmod 755 "$T/bin" "$T"/bin/*
    chown backy:backy "$T/srv"
    make_source "$T/src.img" 1M
    chgrp backy "$T/src.img"
    chmod 0640 "$T/src.img"
    sed "s|/var/log/backy.log /var/log/backy/\*.log|$T/log/backy.log|; s|/srv/backy/\*/backy.log|$T/srv/*/backy.log|" "$BACKY_ROOT/logrotate/backy" >"$T/lr.conf"
    local job=$T/srv/job1
    as_user() { setpriv --reuid=backy --regid=backy --init-groups -- "$@"; }
    as_user "$T/bin/backy" -b "$job" init file "$T/src.img"
    as_user "$T/bin/backy" -b "$job" -l "$job/backy.log" backup daily
    assert_equal "$(stat -c '%U:%G %a' "$job/backy.log")" "backy:backy 640"
    run logrotate -f -s "$T/lr.state" "$T/lr.conf"
    assert_success
    [ -f "$job/backy.log.1" ] || fail "not rotated: $(ls "$job")"
    assert_equal "$(stat -c '%U:%G %a' "$job/backy.log")" "backy:backy 640"
    run as_user "$T/bin/backy" -b "$job" -l "$job/backy.log" backup daily
    assert_success
    grep -q "INFO revision .* complete" "$job/backy.log" || fail "no new log: $(cat "$job/backy.log")"
    assert_equal "$(nrevs "$job")" 2
}

# complete LINE: run bash completion on LINE (the cursor at its end; a
# trailing space starts a new word), print COMPREPLY one per line
complete_line() {
    local line=$1
    bash --norc --noprofile -c '
        . "$1/completion/backy"
        read -ra COMP_WORDS <<<"$2"
        [[ $2 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$2 COMP_POINT=${#2}
        prog=${COMP_WORDS[0]}
        fn=$(complete -p "$prog" | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
        "$fn" "$prog" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}"
    ' complete "$BACKY_ROOT" "$line"
}

@test "bash completion: actions, options, revision IDs and tags from the job given with -b" {
    command -v bash >/dev/null
    make_source "$T/src.img" 1M
    backy -b "$T/job" init file "$T/src.img" >/dev/null
    backy -b "$T/job" backup daily,weekly >/dev/null
    backy -b "$T/job" backup monthly >/dev/null
    local ids
    ids=$(rev_ids "$T/job" | sort)
    run complete_line "backy "
    assert_success
    for a in init backup find restore status verify scheduler check mount umount forget tags expire; do
        grep -qx "$a" <<<"$output" || fail "action $a not offered: $output"
    done
    run complete_line "backy -b $T/job res"
    assert_equal "$output" "restore"
    run complete_line "backy --vers"
    assert_equal "$output" "--version"
    run complete_line "backy -b $T/job find -r "
    for id in $ids; do
        grep -qx "$id" <<<"$output" || fail "revision $id not offered: $output"
    done
    for tag in daily weekly monthly last; do
        grep -qx "$tag" <<<"$output" || fail "tag $tag not offered: $output"
    done
    run complete_line "backy -b $T/job find -r we"
    assert_equal "$output" "weekly"
    run complete_line "backy -b $T/job mount --"
    grep -qx -- "--partition" <<<"$output" || fail "--partition not offered: $output"
    # each program on its own
    run complete_line "backy-restore -b $T/job -r mo"
    assert_equal "$output" "monthly"
    run complete_line "backy-verify --a"
    assert_equal "$output" "--all"
    run complete_line "backy -b $T/job tags -r daily a"
    assert_equal "$output" "add"
    run complete_line "backy-expire --d"
    assert_equal "$output" "--dry-run"
    # another directory, other revisions: none of these
    run complete_line "backy -b $T find -r we"
    assert_equal "$output" ""
}

# journal_run JOURNAL_STREAM-MODE CMD...: run CMD with stdout and stderr on
# one end of a Unix stream socket (as systemd connects a service to the
# journal), JOURNAL_STREAM naming that socket (match) or another one
# (other); print what arrived
journal_run() {
    python3 - "$@" <<'PY'
import os, socket, subprocess, sys
mode, cmd = sys.argv[1], sys.argv[2:]
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
st = os.fstat(a.fileno() if mode == "match" else b.fileno())
env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
p = subprocess.Popen(cmd, stdout=a, stderr=a, stdin=subprocess.DEVNULL, env=env)
a.close()
out = b""
while True:
    d = b.recv(65536)
    if not d:
        break
    out += d
p.wait()
sys.stdout.write(out.decode())
sys.stdout.write("exit %d\n" % p.returncode)
PY
}

@test "logging: lines carry an ISO 8601 UTC timestamp with Z" {
    make_source "$T/src.img" 1M
    run backy -v -b "$T/job" init file "$T/src.img"
    assert_success
    assert_output_matches '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z \[[0-9]+\] INFO initialised job directory '
}

@test "logging: under systemd (JOURNAL_STREAM matches) lines carry syslog priorities and no timestamp" {
    make_source "$T/src.img" 1M
    run journal_run match "$BACKY_BIN/backy" -v -b "$T/job" init file "$T/src.img"
    assert_success
    assert_output_matches '^<6>\[[0-9]+\] INFO initialised job directory '
    run journal_run match "$BACKY_BIN/backy" -v -b "$T/job" backup daily
    assert_output_matches '^<6>\[[0-9]+\] INFO revision .* complete'
    assert_output_matches '^<7>\[[0-9]+\] DEBUG '
    assert_output_matches '^exit 0$'
    ! grep -qE '^[0-9]{4}-' <<<"$output" || fail "timestamps under the journal: $output"
    # a warning and an error
    run journal_run match "$BACKY_BIN/backy" -b "$T/job" backup daily
    chmod u+w "$T/job"/*.rev
    echo 'garbage: [' >>"$(ls "$T/job"/*.rev | head -1)"
    run journal_run match "$BACKY_BIN/backy" -b "$T/job" status
    assert_output_matches '^<4>\[[0-9]+\] WARNING '
    run journal_run match "$BACKY_BIN/backy" -b "$T/job" find -r nonexistent
    assert_output_matches '^<3>backy-find: error: '
    assert_output_matches '^exit 1$'
    # JOURNAL_STREAM inherited, but the output goes elsewhere: timestamps
    run journal_run other "$BACKY_BIN/backy" -b "$T/job2" init file "$T/src.img"
    assert_output_matches '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \[[0-9]+\] INFO initialised'
    ! grep -q '^<' <<<"$output" || fail "priority prefix without the journal: $output"
}

@test "debian: dpkg-buildpackage -b builds a package with programs, man pages, units, completion and logrotate snippet" {
    local d=$BATS_FILE_TMPDIR/deb deb
    [ "$(cat "$d/rc")" = 0 ] || fail "dpkg-buildpackage failed: $(tail -30 "$d/build.log")"
    deb=$(ls "$d"/backy_*_*.deb)
    run dpkg-deb -c "$deb"
    assert_success
    local p
    for p in $(programs); do
        assert_output_matches "^-rwxr-xr-x .* \./usr/bin/$p$"
        [ "$p" = backy ] || assert_output_matches " \./usr/share/bash-completion/completions/$p -> backy$"
    done
    for p in "$BACKY_ROOT"/man/*.[1-8]; do
        p=${p##*/}
        assert_output_matches " \./usr/share/man/man${p##*.}/$p\.gz$"
    done
    for p in backy-scheduler.service backy-backup@.service backy-backup@.timer backy-expire.service backy-expire.timer; do
        assert_output_matches " \./lib/systemd/system/$p$"
    done
    assert_output_matches " \./usr/share/bash-completion/completions/backy$"
    assert_output_matches " \./etc/logrotate.d/backy$"
    # the units name the installed programs
    mkdir -p "$T/x"
    dpkg-deb -x "$deb" "$T/x"
    grep -q '^ExecStart=/usr/bin/backy-sched -c /etc/backy.conf$' "$T/x/lib/systemd/system/backy-scheduler.service"
    # the logrotate snippet is a conffile
    dpkg-deb -e "$deb" "$T/ctl"
    grep -qx /etc/logrotate.d/backy "$T/ctl/conffiles"
    # the user backy: the sysusers.d snippet, and maintainer scripts that
    # create it and give it the base directory (run in the next test)
    assert_output_matches "^-rw-r--r-- .* \./usr/lib/sysusers\.d/backy\.conf$"
    grep -qx 'u backy - "backy backups" /srv/backy /usr/sbin/nologin' "$T/x/usr/lib/sysusers.d/backy.conf"
    grep -qx 'User=backy' "$T/x/lib/systemd/system/backy-scheduler.service"
    for p in postinst postrm; do
        [ -x "$T/ctl/$p" ] || fail "no $p"
        sh -n "$T/ctl/$p" || fail "$p: syntax"
    done
    grep -q 'systemd-sysusers backy.conf' "$T/ctl/postinst"
    grep -q 'adduser --system --group' "$T/ctl/postinst"
    run dpkg-deb -f "$deb" Depends
    assert_output_matches '(^|, )adduser(,|$)'
    # the packaged program runs
    run "$T/x/usr/bin/backy" --version
    assert_success
    assert_output_matches '^backy [0-9]'
}

# scratch_system DIR: a copy of /etc without a user or group backy, and
# empty directories for /srv, /usr/lib/sysusers.d, /var/lib/systemd and
# /var/log, in DIR; in_scratch DIR CMD...: run CMD in a private mount
# namespace with those over the real ones (the maintainer scripts run
# against the real programs, dpkg's database and kernel, but change only
# the copies; nothing of it outlives CMD)
scratch_system() {
    local r=$1 f
    mkdir -p "$r/etc" "$r/srv" "$r/sysusers.d" "$r/systemd" "$r/log"
    cp -a /etc/. "$r/etc/"
    for f in passwd group shadow gshadow passwd- group- shadow- gshadow- subuid subgid; do
        [ ! -f "$r/etc/$f" ] || sed -i '/^backy:/d' "$r/etc/$f"
    done
}

in_scratch() {
    unshare --mount --propagation private -- bash -c '
        r=$1
        shift
        mount --bind "$r/etc" /etc && mount --bind "$r/srv" /srv &&
            mount --bind "$r/sysusers.d" /usr/lib/sysusers.d &&
            mount --bind "$r/systemd" /var/lib/systemd &&
            mount --bind "$r/log" /var/log || exit 99
        "$@"' in_scratch "$@"
}

# the state in_scratch shows: the user and group backy, /srv/backy
scratch_state() {
    # the name (GECOS up to its first comma: adduser adds ",,,"), home, shell
    getent passwd backy | awk -F: '{ sub(/,.*/, "", $5); print $1 ":" $5 ":" $6 ":" $7 }'
    getent group backy | cut -d: -f1
    [ "$(getent passwd backy | cut -d: -f4)" = "$(getent group backy | cut -d: -f3)" ] && echo "primary group backy"
    grep -c '^backy:' /etc/passwd
    if [ -e /srv/backy ]; then stat -c '/srv/backy %U:%G %a' /srv/backy; else echo "no /srv/backy"; fi
}

@test "debian: the postinst creates the user backy (sysusers.d, else adduser) and gives it /srv/backy, twice the same; purge removes only an empty /srv/backy" {
    local d=$BATS_FILE_TMPDIR/deb deb
    [ "$(cat "$d/rc")" = 0 ] || fail "dpkg-buildpackage failed"
    [ -d /srv ] && [ -d /usr/lib/sysusers.d ] && [ -d /var/lib/systemd ] || fail "no /srv, /usr/lib/sysusers.d or /var/lib/systemd"
    deb=$(ls "$d"/backy_*_*.deb)
    dpkg-deb -e "$deb" "$T/ctl"
    dpkg-deb -x "$deb" "$T/x"
    export -f scratch_state
    # as dpkg runs them; their own output goes to $T/maint.log
    export DPKG_MAINTSCRIPT_PACKAGE=backy DPKG_MAINTSCRIPT_ARCH=$(dpkg --print-architecture) LOG=$T/maint.log
    local want="backy:backy backups:/srv/backy:/usr/sbin/nologin
backy
primary group backy
1
/srv/backy backy:backy 755"
    # with systemd-sysusers and the package's sysusers.d/backy.conf
    scratch_system "$T/s1"
    cp "$T/x/usr/lib/sysusers.d/backy.conf" "$T/s1/sysusers.d/"
    run in_scratch "$T/s1" bash -c '! getent passwd backy && DPKG_MAINTSCRIPT_NAME=postinst "$1" configure "" >>"$LOG" 2>&1 && scratch_state' x "$T/ctl/postinst"
    assert_success
    assert_equal "$output" "$want"
    grep -q "Creating user 'backy'" "$LOG" || fail "not by systemd-sysusers: $(cat "$LOG")"
    # again (a reconfigure, an upgrade): nothing changes
    run in_scratch "$T/s1" bash -c 'DPKG_MAINTSCRIPT_NAME=postinst "$1" configure 3.0.0 >>"$LOG" 2>&1 && scratch_state' x "$T/ctl/postinst"
    assert_success
    assert_equal "$output" "$want"
    # purge: the empty base directory goes, the user stays
    run in_scratch "$T/s1" bash -c 'DPKG_MAINTSCRIPT_NAME=postrm "$1" purge >>"$LOG" 2>&1 && scratch_state' x "$T/ctl/postrm"
    assert_success
    assert_equal "$output" "${want%/srv/backy *}no /srv/backy"

    # without the sysusers.d file: adduser; an empty /srv/backy of root's
    # is given to backy
    scratch_system "$T/s2"
    mkdir "$T/s2/srv/backy"
    chmod 755 "$T/s2/srv/backy"
    : >"$LOG"
    run in_scratch "$T/s2" bash -c 'for i in 1 2; do DPKG_MAINTSCRIPT_NAME=postinst "$1" configure "" >>"$LOG" 2>&1 || exit; done && scratch_state' x "$T/ctl/postinst"
    assert_success
    assert_equal "$output" "$want"
    ! grep -q "Creating user 'backy'" "$LOG" || fail "systemd-sysusers without the file: $(cat "$LOG")"

    # a /srv/backy with job directories of a backy that ran as root is left
    # alone, with a note; purge keeps it
    scratch_system "$T/s3"
    cp "$T/x/usr/lib/sysusers.d/backy.conf" "$T/s3/sysusers.d/"
    mkdir -p "$T/s3/srv/backy/vm1"
    : >"$LOG"
    run in_scratch "$T/s3" bash -c 'DPKG_MAINTSCRIPT_NAME=postinst "$1" configure "" >>"$LOG" 2>&1 &&
        DPKG_MAINTSCRIPT_NAME=postrm "$2" purge >>"$LOG" 2>&1 && scratch_state' x "$T/ctl/postinst" "$T/ctl/postrm"
    assert_success
    assert_output_contains "/srv/backy root:root "
    grep -q "backy: /srv/backy belongs to root and is not empty; the units run as user backy" "$LOG" ||
        fail "no note: $(cat "$LOG")"
    [ -d "$T/s3/srv/backy/vm1" ] || fail "job directory gone"
}

@test "debian: lintian finds no errors (warnings are listed)" {
    local d=$BATS_FILE_TMPDIR/deb
    [ "$(cat "$d/rc")" = 0 ] || fail "dpkg-buildpackage failed"
    command -v lintian >/dev/null || fail "lintian missing (package lintian)"
    run lintian --fail-on error "$d"/backy_*_*.deb
    echo "$output" | grep -E '^[WE]: ' | sed 's/^/# lintian: /' >&3 || true
    assert_success
    ! grep -q '^E: ' <<<"$output" || fail "lintian errors: $output"
}

@test "man pages: mandoc -Tlint reports nothing (dates parse, no long lines), every program has one" {
    command -v mandoc >/dev/null || fail "mandoc missing (package mandoc)"
    local f out errs=""
    for f in "$BACKY_ROOT"/man/*.[1-8]; do
        out=$(mandoc -Tlint "$f" 2>&1) || errs="$errs
$out"
        [ -z "$out" ] || errs="$errs
$out"
        grep -qE '^\.TH [^ ]+ [1-8] "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$f" || errs="$errs
$f: .TH date is not YYYY-MM-DD"
    done
    for f in $(programs); do
        [ -f "$BACKY_ROOT/man/$f.1" ] || errs="$errs
$f: no man page man/$f.1"
    done
    [ -z "$errs" ] || fail "$errs"
    # the check can fail: an unparseable date is reported
    sed 's/^\.TH \([^ ]*\) \([1-8]\) "[^"]*"/.TH \1 \2 "someday"/' "$BACKY_ROOT/man/backy.1" >"$T/bad.1"
    run mandoc -Tlint "$T/bad.1"
    assert_output_contains "cannot parse date"
}
