#!/usr/bin/env bats
# Off-host copies without the network: backy send | backy receive between
# loop-mounted filesystems (btrfs to btrfs, XFS, ext4), streams damaged in
# every way the receiver must refuse, receives killed at random points, and
# backy push to a local directory (what it chooses to send, and that a
# second push sends nothing). push over ssh: push-ssh.bats.

load lib/common
load lib/replication

@test "btrfs to btrfs: whole and incremental revisions equal byte for byte, the increment shares all but the change" {
    require_root_or_skip
    a=$(mk_btrfs a 512M)
    b=$(mk_btrfs b 512M)
    src_job "$a/job" "$T/src" 64M
    r1=$(last_rev "$a/job")
    n=$(another_rev "$a/job" "$T/src" daily,weekly)
    r2=$(last_rev "$a/job")
    run sh -c "'$BACKY_BIN/backy' -b '$a/job' send -r $r1 | '$BACKY_BIN/backy' -b '$b/job' receive"
    assert_success
    assert_output_contains "received revision $r1"
    run sh -c "'$BACKY_BIN/backy' -b '$a/job' send -r $r2 --base $r1 2>'$T/send.log' | '$BACKY_BIN/backy' -b '$b/job' receive"
    assert_success
    assert_output_contains "received revision $r2"
    assert_output_contains "against $r1: $n blocks written"
    # the sender read and sent only the changed blocks
    grep -q "sent revision $r2 against $r1: $n of 1024 blocks" "$T/send.log"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
    assert_equal "$(last_rev "$b/job")" "$r2"
    grep -q '^type: replica' "$b/job/config"
    # status of both sides: same dates, IDs, sizes, durations, tags
    assert_equal "$(backy -b "$b/job" status | sed -n '/^|/p')" "$(backy -b "$a/job" status | sed -n '/^|/p')"
    changed=$((n * 65536))
    excl=$(btrfs_exclusive "$b/job/$r2")
    echo "# changed $changed bytes, exclusive $excl bytes of the received increment" >&3
    assert_le "$excl" $((changed * 105 / 100)) "exclusive bytes of the received increment"
    run backy -b "$b/job" verify -r "$r2"
    assert_success
    # the same revision again: a no-op that leaves everything as it was
    before=$(dir_sums "$b/job")
    run sh -c "'$BACKY_BIN/backy' -b '$a/job' send -r $r2 --base $r1 | '$BACKY_BIN/backy' -b '$b/job' receive"
    assert_success
    assert_output_contains "already in"
    assert_equal "$(dir_sums "$b/job")" "$before"
    # a backup of the copy is refused: it has no source
    run backy -b "$b/job" backup daily
    assert_failure
    assert_output_contains "type replica): it has no source to back up"
}

@test "btrfs to XFS and to ext4 (a full copy, with a warning): revisions equal" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    x=$(mk_xfs x)
    e=$(mk_ext4 e 128M)
    src_job "$a/job" "$T/src" 16M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    for d in "$x" "$e"; do
        "$BACKY_BIN/backy" -b "$a/job" send -r "$r1" | "$BACKY_BIN/backy" -b "$d/job" receive
        run sh -c "'$BACKY_BIN/backy' -b '$a/job' send -r $r2 --base $r1 | '$BACKY_BIN/backy' -b '$d/job' receive"
        assert_success
        if [ "$d" = "$e" ]; then
            assert_output_contains "no reflink support: making a full copy of base $r1"
        else
            assert_output_not_contains "no reflink"
        fi
        assert_same_revs "$a/job" "$d/job" "$r1" "$r2"
    done
}

@test "a revision whose size changed, and zero blocks that replace data, arrive as they are" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 8M
    r1=$(last_rev "$a/job")
    # zero a data MiB, grow by a partial block
    dd if=/dev/zero of="$T/src" bs=1M seek=2 count=1 conv=notrunc status=none
    head -c 70000 /dev/urandom >>"$T/src"
    backy -b "$a/job" backup daily >/dev/null
    r2=$(last_rev "$a/job")
    truncate -s 5M "$T/src"
    backy -b "$a/job" backup daily >/dev/null
    r3=$(last_rev "$a/job")
    run backy -b "$a/job" push "$b/job"
    assert_success
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2" "$r3"
    assert_files_equal "$T/src" "$b/job/$r3"
    run is_hole "$b/job/$r2" $((2 << 20)) 1048576
    assert_success
}

@test "damaged streams are refused with one line and change nothing: truncated, flipped bits, reordered blocks, missing or wrong base, unknown version" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 16M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r3=$(last_rev "$a/job")
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r1" | "$BACKY_BIN/backy" -b "$b/job" receive >/dev/null
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r2" --base "$r1" >"$T/s2"
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r3" --base "$r2" >"$T/s3"
    size=$(stat -c %s "$T/s2")
    before=$(dir_sums "$b/job")
    refused() { # STREAMFILE EXPECTED-TEXT
        run "$BACKY_BIN/backy" -b "$b/job" receive <"$1"
        assert_failure 1
        assert_output_contains "backy-receive: error: "
        assert_output_contains "$2"
        [ "$(grep -c 'error:' <<<"$output")" = 1 ]
        assert_equal "$(dir_sums "$b/job")" "$before"
    }
    # truncated at random points, at the end of the preamble and just before the end
    for cut in 0 10 16 200 $((RANDOM * 7 % size)) $((RANDOM * 13 % size)) $((size - 1)); do
        head -c "$cut" "$T/s2" >"$T/cut"
        refused "$T/cut" "stream"
    done
    # flipped bits: in the metadata, in the sums, in a block, in the trailer
    recs=$($STREAMEDIT records "$T/s2")
    meta=$(awk 'NR == 1 { print $1 + 30 }' <<<"$recs")
    sums=$(awk '$2 == 2 { print $1 + 100 }' <<<"$recs")
    data=$(awk '$2 == 3 { print $1 + 500; exit }' <<<"$recs")
    trailer=$(awk '$2 == 15 { print $1 + 30 }' <<<"$recs")
    for off in "$meta" "$sums" "$data" "$trailer" $((16 + RANDOM % (size - 16))); do
        $STREAMEDIT flip "$T/s2" "$T/flip" "$off"
        refused "$T/flip" "stream"
    done
    $STREAMEDIT swap "$T/s2" "$T/swap"
    refused "$T/swap" "out of order"
    # r3's base r2 is not there
    refused "$T/s3" "base revision $r2 is missing"
    $STREAMEDIT version "$T/s2" "$T/v2" 2
    refused "$T/v2" "unsupported stream version 2"
    refused /dev/null "stream truncated"
    # a base with the right ID but other content (here r3's): the blocks the
    # stream leaves out do not match it
    cp -a "$b/job" "$b/other"
    chmod u+w "$b/other/$r1" "$b/other/$r1.sums"
    cp "$a/job/$r3" "$b/other/$r1"
    cp "$a/job/$r3.sums" "$b/other/$r1.sums"
    other_before=$(dir_sums "$b/other")
    run "$BACKY_BIN/backy" -b "$b/other" receive <"$T/s2"
    assert_failure 1
    assert_output_matches "stream refused: block [0-9]+ is not in the stream and differs from base $r1"
    assert_equal "$(dir_sums "$b/other")" "$other_before"
    # still good afterwards
    run "$BACKY_BIN/backy" -b "$b/job" receive <"$T/s2"
    assert_success
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
}

@test "a receive killed at random points leaves nothing complete; the next push completes and is right" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 32M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r1" >"$T/s1"
    size=$(stat -c %s "$T/s1")
    for i in 1 2 3 4; do
        cut=$(( (RANDOM * 32768 + RANDOM) % size ))
        [ "$i" = 4 ] && cut=$((size - 10))
        # the receive has read $cut bytes and waits for more when it dies
        rm -f "$T/fifo"
        mkfifo "$T/fifo"
        "$BACKY_BIN/backy-receive" -b "$b/job" <"$T/fifo" >"$T/recv.log" 2>&1 &
        rpid=$!
        { head -c "$cut" "$T/s1"; exec sleep 60; } >"$T/fifo" &
        fpid=$!
        track_pid "$fpid"
        for _ in $(seq 1 100); do
            [ "$(cat "/proc/$fpid/comm" 2>/dev/null)" = sleep ] && break
            sleep 0.05
        done
        sleep 0.3
        kill -9 "$rpid"
        kill "$fpid"
        wait "$rpid" "$fpid" 2>/dev/null || true
        [ -z "$(complete_ids "$b/job")" ]
    done
    run backy -b "$a/job" push "$b/job"
    assert_success
    assert_output_contains "removing incomplete revision $r1"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
    run backy -b "$b/job" verify --all
    assert_success
}

@test "push: oldest first, each against the newest common revision; a second push sends nothing" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 16M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    run backy -b "$a/job" push "$b/new/job"
    assert_success
    assert_output_contains "sending revision $r1 (whole)"
    assert_output_contains "sending revision $r2 against $r1"
    assert_same_revs "$a/job" "$b/new/job" "$r1" "$r2"
    before=$(dir_sums "$b/new/job")
    run backy -b "$a/job" push "$b/new/job"
    assert_success
    assert_output_contains "nothing to send"
    assert_output_not_contains "sending"
    assert_equal "$(dir_sums "$b/new/job")" "$before"
    another_rev "$a/job" "$T/src" weekly >/dev/null
    r3=$(last_rev "$a/job")
    run backy -b "$a/job" push "$b/new/job"
    assert_success
    assert_output_contains "sending revision $r3 against $r2"
    assert_same_revs "$a/job" "$b/new/job" "$r3"
    # a job cannot be pushed onto itself
    run backy -b "$a/job" push "$a/job"
    assert_failure
}

@test "push after a revision was expired on the source and a new one made: the right base; --all sends older ones" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 16M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    backy -b "$a/job" push "$b/job" >/dev/null
    # expire r2 on the source: last points at r1 again
    backy -b "$a/job" forget -r "$r2" >/dev/null
    assert_equal "$(last_rev "$a/job")" "$r1"
    another_rev "$a/job" "$T/src" daily >/dev/null
    r3=$(last_rev "$a/job")
    run backy -b "$a/job" push "$b/job"
    assert_success
    assert_output_contains "sending revision $r3 against $r1"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r3"
    # the copy keeps r2 (push never removes)
    assert_file_exists "$b/job/$r2"
    # the target lost r1: without --all it is not sent again, with --all it is
    backy -b "$b/job" forget -r "$r1" >/dev/null
    run backy -b "$a/job" push "$b/job"
    assert_success
    assert_output_contains "nothing to send"
    run backy -b "$a/job" push --all "$b/job"
    assert_success
    assert_output_contains "sending revision $r1 against $r3"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r3"
    assert_equal "$(last_rev "$b/job")" "$r3"
}

@test "receive takes the job lock; revisions --json lists what a job holds" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    src_job "$a/job" "$T/src" 4M
    r1=$(last_rev "$a/job")
    "$BACKY_BIN/backy" -b "$a/job" send >"$T/s1"
    mkdir -p "$T/dst"
    "$BACKY_BIN/backy-init" -b "$T/dst" replica elsewhere >/dev/null
    flock "$T/dst/config" sleep 60 &
    track_pid $!
    sleep 0.2
    run "$BACKY_BIN/backy" -b "$T/dst" receive <"$T/s1"
    assert_failure
    assert_output_contains "job is busy"
    run backy -b "$a/job" revisions --json
    assert_success
    assert_equal "$(jq -r '.format' <<<"$output")" 1
    assert_equal "$(jq -r '.revisions[0].id' <<<"$output")" "$r1"
    assert_equal "$(jq -r '.revisions[0].complete' <<<"$output")" true
    assert_equal "$(jq -r '.revisions[0].tags[0]' <<<"$output")" daily
    run backy -b "$T/nothing" revisions --json
    assert_success
    assert_equal "$(jq -r '.exists' <<<"$output")" false
    # an empty directory (made ahead) holds nothing; a non-empty one that
    # is not a job directory is an error
    mkdir "$T/empty"
    run backy -b "$T/empty" revisions --json
    assert_success
    assert_equal "$(jq -r '.exists' <<<"$output")" true
    assert_equal "$(jq -r '.revisions | length' <<<"$output")" 0
    touch "$T/empty/stray"
    run backy -b "$T/empty" revisions --json
    assert_failure
    assert_output_contains "not a job directory: $T/empty"
}

@test "a quarantined revision is not sent: send refuses it by name, push skips it with a warning" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 8M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    # bit rot in r2, recorded as a verify (or scrub) finds it: quarantined
    chmod u+w "$a/job/$r2" "$a/job/$r2.rev"
    printf 'X' | dd of="$a/job/$r2" bs=1 seek=100 conv=notrunc status=none
    printf 'verify:\n  time: 2026-12-02 01:00:00.000000+00:00\n  result: damaged\n  damaged_blocks: 1\n' >>"$a/job/$r2.rev"
    chmod 0440 "$a/job/$r2" "$a/job/$r2.rev"
    run sh -c "'$BACKY_BIN/backy' -b '$a/job' send -r $r2 >/dev/null"
    assert_failure
    assert_output_contains "revision $r2 is quarantined"
    # --force reads the damaged block and still refuses to send it
    run sh -c "'$BACKY_BIN/backy' -b '$a/job' send -r $r2 --force >/dev/null"
    assert_failure
    assert_output_contains "revision $r2 is damaged: block 0"
    run backy -b "$a/job" push "$b/job"
    assert_success
    assert_output_contains "not sending revision $r2: it is quarantined"
    assert_same_revs "$a/job" "$b/job" "$r1"
    assert_file_missing "$b/job/$r2"
}

@test "receive --session: the answer first, then several streams one after the other; a stream cut short in a session is removed, the ones before it stay" {
    require_root_or_skip
    a=$(mk_btrfs a 256M)
    b=$(mk_btrfs b 256M)
    src_job "$a/job" "$T/src" 8M
    r1=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r2=$(last_rev "$a/job")
    another_rev "$a/job" "$T/src" daily >/dev/null
    r3=$(last_rev "$a/job")
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r1" >"$T/s1" 2>/dev/null
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r2" --base "$r1" >"$T/s2" 2>/dev/null
    "$BACKY_BIN/backy" -b "$a/job" send -r "$r3" --base "$r2" >"$T/s3" 2>/dev/null
    # two streams in one session: stdout holds nothing but the answer line
    cat "$T/s1" "$T/s2" | "$BACKY_BIN/backy" -b "$b/job" receive --origin src:job --session >"$T/answer" 2>"$T/log"
    assert_equal "$(wc -l <"$T/answer")" 1
    assert_equal "$(jq -c '[.format, .session, .exists, .revisions]' "$T/answer")" '[1,1,false,[]]'
    grep -q "received revision $r1" "$T/log"
    grep -q "received revision $r2 into $b/job against $r1" "$T/log"
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2"
    # the answer lists what is there, as revisions --json does
    "$BACKY_BIN/backy" -b "$b/job" receive --session </dev/null >"$T/answer2" 2>/dev/null
    assert_equal "$(jq -c '.revisions' "$T/answer2")" "$(backy -b "$b/job" revisions --json | jq -c '.revisions')"
    assert_equal "$(jq -r '.exists' "$T/answer2")" true
    # a stream already there, then one cut short: the first is a no-op,
    # the second is refused and removed, nothing else changes
    before=$(dir_sums "$b/job")
    size=$(stat -c %s "$T/s3")
    run sh -c "{ cat '$T/s2'; head -c $((size / 2)) '$T/s3'; } | '$BACKY_BIN/backy' -b '$b/job' receive --session"
    assert_failure
    assert_output_contains "revision $r2 is already in $b/job"
    assert_output_contains "backy-receive: error: stream refused: stream truncated"
    assert_output_contains "revision $r3 removed"
    assert_equal "$(dir_sums "$b/job")" "$before"
    # the whole of it afterwards
    run sh -c "cat '$T/s3' | '$BACKY_BIN/backy' -b '$b/job' receive --session"
    assert_success
    assert_same_revs "$a/job" "$b/job" "$r1" "$r2" "$r3"
    # bytes after a stream's END that are no stream: refused by name
    run sh -c "{ cat '$T/s1'; printf 'garbage-garbage!'; } | '$BACKY_BIN/backy' -b '$b/job' receive --session"
    assert_failure
    assert_output_contains "not a backy replication stream"
    assert_equal "$(complete_ids "$b/job" | wc -l)" 3
    # the lock is taken when the first stream arrives: answering needs none
    flock "$b/job/config" sleep 60 &
    track_pid $!
    sleep 0.2
    run sh -c "'$BACKY_BIN/backy' -b '$b/job' receive --session </dev/null"
    assert_success
    run backy -b "$a/job" push "$b/job"
    assert_success
    assert_output_contains "nothing to send"
    another_rev "$a/job" "$T/src" daily >/dev/null
    r4=$(last_rev "$a/job")
    run backy -b "$a/job" push "$b/job"
    assert_failure
    assert_output_contains "job is busy"
    assert_output_contains "push of revision $r4 to $b/job failed"
    assert_file_missing "$b/job/$r4.rev"
    # a directory that holds other things but no config is no job: the
    # session answers with the reason, push names it, nothing is made there
    mkdir "$T/notajob"
    touch "$T/notajob/stray"
    run sh -c "'$BACKY_BIN/backy' -b '$T/notajob' receive --session </dev/null 2>/dev/null"
    assert_failure
    assert_equal "$(jq -r '.error' <<<"$output")" "not a job directory: $T/notajob: it has no config (create one with 'backy init')"
    run backy -b "$a/job" push "$T/notajob"
    assert_failure
    assert_output_contains "backy-push: error: $T/notajob refused the push: not a job directory: $T/notajob"
    assert_equal "$(ls "$T/notajob")" stray
}
