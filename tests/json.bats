#!/usr/bin/env bats
# --json of status, find, verify, check and expire: one valid JSON document
# with "format": 1 that says what the human output of the same run says
# (same revisions, IDs, tags, sizes, states), and the same exit status.
# Job directories on a loop-mounted btrfs.

load lib/common
load lib/store

setup() {
    common_setup
    require_root_or_skip
    require_tool backy backy-init backy-backup backy-find backy-status backy-verify
    command -v jq >/dev/null || fail "jq is not installed (sh/deps.sh installs it)"
    S=$(mk_btrfs store 256M)
    JOB=$S/job
    SRC=$T/source.img
    make_source "$SRC" 4M
    # a system call missing from a tool's seccomp policy fails the test
    ulimit -c 0
    export BACKY_SECCOMP=trap
}

teardown() {
    common_teardown
}

# json_of CMD...: stdout of CMD in $json, its exit status in $rc, stderr in
# $T/stderr; fails when stdout is not exactly one JSON document.
json_of() {
    rc=0
    json=$("$@" 2>"$T/stderr") || rc=$?
    if [ -n "$json" ]; then
        [ "$(jq -s 'length' <<<"$json")" = 1 ] || fail "not one JSON document: $json"
    fi
}

# human_of CMD...: stdout of CMD in $human, its exit status in $hrc.
human_of() {
    hrc=0
    human=$("$@" 2>/dev/null) || hrc=$?
}

# The rows of the status table: Date|ID|Size|Durat|Tags[|State].
status_rows() {
    awk -F'|' '/^\| / && $2 !~ /^ Date/ {
        line = ""
        for (i = 2; i < NF; i++) {
            c = $i; sub(/^ +/, "", c); sub(/ +$/, "", c)
            line = line (i > 2 ? "|" : "") c
        }
        print line }' <<<"$1"
}

# The same rows made from status --json, formatted as backy formats them.
json_rows() {
    jq -r '.revisions[] | [(.timestamp | floor | strftime("%Y-%m-%d %H:%M:%S UTC")), .id,
            .bytes_written, (.duration // 0), (.tags | join(",")), (.state | join(","))] | @tsv' <<<"$1" |
        awk -F'\t' -v states="$2" '{
            b = $3; split("B KiB MiB GiB TiB PiB EiB", u, " "); k = 1; v = b
            while (v >= 1024 && k < 7) { v /= 1024; k++ }
            size = k == 1 ? sprintf("%d B", b) : sprintf("%.2f %s", v, u[k])
            printf "%s|%s|%s|%.1f s|%s", $1, $2, size, $4, $5
            if (states) printf "|%s", $6
            printf "\n" }'
}

# compare_status JOB: human and JSON status of JOB say the same.
compare_status() {
    human_of backy -b "$1" status
    json_of backy -b "$1" status --json
    [ "$rc" = "$hrc" ] || fail "exit status $rc with --json, $hrc without"
    assert_equal "$(jq -r .format <<<"$json")" 1
    local states=""
    head -2 <<<"$human" | grep -q '| State' && states=1
    assert_equal "$(json_rows "$json" "$states")" "$(status_rows "$human")"
    assert_equal "$(jq -r '.summary.revisions' <<<"$json") revisions" "$(grep -E '^[0-9]+ revisions$' <<<"$human")"
    assert_equal "$(jq -r '.revisions | length' <<<"$json")" "$(jq -r '.summary.revisions' <<<"$json")"
}

@test "status --json lists the revisions of the table: IDs, dates, sizes, durations, tags, order" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily,weekly
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    backy -b "$JOB" backup hourly
    compare_status "$JOB"
    assert_equal "$rc" 0
    assert_equal "$(jq -r .job <<<"$json")" "$JOB"
    assert_equal "$(jq -r '.revisions | length' <<<"$json")" 3
    # the image sizes and the .rev statistics
    local id
    for id in $(jq -r '.revisions[].id' <<<"$json"); do
        assert_equal "$(jq --arg id "$id" '.revisions[] | select(.id == $id) | .size' <<<"$json")" \
            "$(stat -c %s "$JOB/$id")"
        grep -q "bytes_written: $(jq --arg id "$id" '.revisions[] | select(.id == $id) | .bytes_written' <<<"$json")\$" \
            "$JOB/$id.rev"
    done
    # parents: each revision's parent is the one before it
    assert_equal "$(jq -r '.revisions[0].parent' <<<"$json")" null
    assert_equal "$(jq -r '.revisions[1].parent' <<<"$json")" "$(jq -r '.revisions[0].id' <<<"$json")"
    assert_equal "$(jq -r '.revisions[2].parent' <<<"$json")" "$(jq -r '.revisions[1].id' <<<"$json")"
    assert_equal "$(jq -c '[.revisions[] | .complete, .quarantined, .verify, .state]' <<<"$json")" \
        '[true,false,null,[],true,false,null,[],true,false,null,[]]'
    # ISO text and number are the same instant
    assert_equal "$(jq -r '.revisions[0] | (.timestamp | floor | todate) == (.timestamp_iso | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z"))' <<<"$json")" true
    assert_equal "$(jq -r '.summary.bytes_written == ([.revisions[].bytes_written] | add)' <<<"$json")" true
}

@test "status --json of an empty job and of a directory that is no job: same exit status, no document on error" {
    backy -b "$JOB" init file "$SRC"
    compare_status "$JOB"
    assert_equal "$rc" 0
    assert_equal "$(jq -c '[.revisions, .summary]' <<<"$json")" '[[],{"revisions":0,"bytes_written":0}]'
    mkdir "$S/nojob"
    human_of backy -b "$S/nojob" status
    json_of backy -b "$S/nojob" status --json
    assert_equal "$hrc" 1
    assert_equal "$rc" 1
    assert_equal "$json" ""
    grep -q "^backy-status: error: " "$T/stderr"
}

@test "status --json: an incomplete revision has state incomplete, duration null" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    local inc=ZZZZZZZZZZZZZZZZZZZZZZ
    cp "$SRC" "$JOB/$inc"
    printf "uuid: %s\ntimestamp: 2099-01-01 00:00:00+00:00\nparent: ''\nstats:\n  bytes_written: 1234\ntags: [daily]\n" \
        "$inc" >"$JOB/$inc.rev"
    compare_status "$JOB"
    assert_equal "$(jq -c --arg id "$inc" '.revisions[] | select(.id == $id) | [.complete, .duration, .bytes_written, (.state | index("incomplete") != null)]' <<<"$json")" \
        '[false,null,1234,true]'
}

@test "status --json: the verify record of each revision (good, damaged, unverifiable, none)" {
    backy -b "$JOB" init file "$SRC"
    local i
    for i in 1 2 3 4; do
        change_blocks "$SRC" 2 >/dev/null
        backy -b "$JOB" backup daily
    done
    local ids
    ids=($(backy -b "$JOB" status --json | jq -r '.revisions[].id'))
    printf 'verify:\n  time: 2026-12-02 01:00:00.000000+00:00\n  result: good\n  damaged_blocks: 0\n' >>"$JOB/${ids[0]}.rev"
    printf 'verify:\n  time: 2026-12-02 01:00:01.500000+00:00\n  result: damaged\n  damaged_blocks: 3\n' >>"$JOB/${ids[1]}.rev"
    printf 'verify:\n  time: 2026-12-02 01:00:02.000000+00:00\n  result: unverifiable\n  damaged_blocks: 0\n' >>"$JOB/${ids[2]}.rev"
    compare_status "$JOB"
    assert_equal "$rc" 0
    assert_equal "$(jq -c '[.revisions[] | [.quarantined, .verify]]' <<<"$json")" \
        '[[false,{"result":"good","time":1796173200,"time_iso":"2026-12-02T01:00:00.000000+00:00","damaged_blocks":0}],[true,{"result":"damaged","time":1796173201.5,"time_iso":"2026-12-02T01:00:01.500000+00:00","damaged_blocks":3}],[false,{"result":"unverifiable","time":1796173202,"time_iso":"2026-12-02T01:00:02.000000+00:00","damaged_blocks":0}],[false,null]]'
}

# what backy 2.0 writes for tags given on its command line: free-form
write_backy2_revisions() {
    local o=ENpdQfhQVgzoiWwT4KuQqP a=Q5N5Ng5kFzNFVv6FDDDCHi b=FqZGAe6iG2hadwJoHdpigW id
    for id in $o $a $b; do
        cp "$SRC" "$1/$id"
        chmod 0440 "$1/$id"
    done
    printf "{parent: '', stats: {bytes_written: 4194304, duration: 2.5}, tags: [daily], timestamp: 2015-11-04 10:00:00, uuid: %s}\n" \
        "$o" >"$1/$o.rev"
    printf "{parent: %s, stats: {bytes_written: 4194304, duration: 2.5}, tags: [daily, 'pre \"upgrade\"', \"it's {x}: [y]\"], timestamp: 2015-11-05 10:00:00, uuid: %s}\n" \
        "$o" "$a" >"$1/$a.rev"
    printf "{parent: %s, stats: {bytes_written: 1048576, duration: 2.5}, tags: ['', daily, 'grüße'], timestamp: 2015-11-06 10:00:00, uuid: %s}\n" \
        "$a" "$b" >"$1/$b.rev"
    ln -s "$b" "$1/last"
    ln -s "$b.rev" "$1/last.rev"
}

@test "status and find --json: free-form backy 2.0 tags with spaces, quotes and brackets, a job path with a space, a quote and a non-UTF-8 byte" {
    local job="$S/my \"job\" $(printf '\xff')x"
    backy -b "$job" init file "$SRC"
    write_backy2_revisions "$job"
    compare_status "$job"
    assert_equal "$rc" 0
    assert_equal "$(jq -c '[.revisions[].tags]' <<<"$json")" \
        '[["daily"],["daily","it'"'"'s {x}: [y]","pre \"upgrade\""],["","daily","grüße"]]'
    # the byte that is no UTF-8 is U+FFFD; the rest of the path is intact
    assert_equal "$(jq -r .job <<<"$json")" "$S/my \"job\" �x"
    assert_equal "$(jq -r '.revisions[1].timestamp_iso' <<<"$json")" "2015-11-05T10:00:00.000000+00:00"
    # find by a tag with a space and quotes
    human_of backy -b "$job" find -r 'pre "upgrade"'
    json_of backy -b "$job" find -r 'pre "upgrade"' --json
    assert_equal "$rc" 0
    assert_equal "$hrc" 0
    assert_equal "$(jq -r .id <<<"$json")" Q5N5Ng5kFzNFVv6FDDDCHi
    assert_equal "$(basename "$human")" "$(jq -r .id <<<"$json")"
    assert_equal "$(jq -c .tags <<<"$json")" '["daily","it'"'"'s {x}: [y]","pre \"upgrade\""]'
}

@test "find --json names the revision find prints, for every kind of spec; errors give the same exit status and no document" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily,weekly
    change_blocks "$SRC" 3 >/dev/null
    backy -b "$JOB" backup daily
    local first spec
    first=$(jq -r '.revisions[0].id' <<<"$(backy -b "$JOB" status --json)")
    for spec in "" 0 1 last latest weekly daily "$first" "${first:0:6}"; do
        human_of backy -b "$JOB" find ${spec:+-r "$spec"}
        json_of backy -b "$JOB" find ${spec:+-r "$spec"} --json
        assert_equal "$rc" 0
        assert_equal "$hrc" 0
        assert_equal "$(jq -r .path <<<"$json")" "$human"
        assert_equal "$(jq -r .id <<<"$json")" "$(basename "$human")"
        assert_equal "$(jq -r .format <<<"$json")" 1
        # the same revision as status says, with the same timestamp and tags
        assert_equal "$(jq -c '[.timestamp, .timestamp_iso, .tags, .complete, .quarantined]' <<<"$json")" \
            "$(backy -b "$JOB" status --json | jq -c --arg id "$(basename "$human")" \
                '.revisions[] | select(.id == $id) | [.timestamp, .timestamp_iso, .tags, .complete, .quarantined]')"
    done
    # (not a number: a number is first tried as an ID prefix)
    for spec in no-such-tag "ab cd" "x/y"; do
        human_of backy -b "$JOB" find -r "$spec"
        json_of backy -b "$JOB" find -r "$spec" --json
        assert_equal "$hrc" 1
        assert_equal "$rc" 1
        assert_equal "$json" ""
        grep -q "^backy-find: error: " "$T/stderr"
    done
}

# ---- expire ------------------------------------------------------------------

# write_conf JOB...: a main configuration with a daily (keep 2) and weekly
# (keep 1) schedule for the jobs, their directories in $S.
write_conf() {
    local j
    {
        printf 'config:\n    base-dir: %s\n    status-file: %s/status\n' "$S" "$T"
        printf 'schedules:\n    default:\n        daily:\n            interval: 1d\n            keep: 2\n'
        printf '        weekly:\n            interval: 7d\n            keep: 1\n'
        printf 'jobs:\n'
        for j in "$@"; do
            printf '    %s:\n        schedule: default\n        source: {type: file, filename: %s}\n' "$j" "$T/$j.img"
        done
    } >"$T/backy.conf"
}

# aged_job NAME: revisions tagged daily 10, 9, 8, 7 and 0 days old, the
# oldest with weekly too: daily expires on the three oldest; the oldest
# keeps weekly, the other two are removed.
aged_job() {
    local job=$S/$1 i n=10 id ts
    make_source "$T/$1.img" 2M
    backy -b "$job" init file "$T/$1.img" >/dev/null
    for i in daily,weekly daily daily daily daily; do
        change_blocks "$T/$1.img" 3 >/dev/null
        backy -b "$job" backup "$i" >/dev/null 2>&1
    done
    for id in $(backy -b "$job" status --json | jq -r '.revisions[:4][].id'); do
        ts=$(date -u -d "@$(($(date +%s) - n * 86400))" '+%Y-%m-%d %H:%M:%S.000000+00:00')
        sed -i "s/^timestamp: .*/timestamp: $ts/" "$job/$id.rev"
        n=$((n - 1))
    done
}

# The revisions a human expire run names, as "ACTION ID" lines, sorted.
human_actions() {
    sed -n -e 's/^\([^:]*\): \(would remove\|removed\) revision \([^ ]*\) .*/\1 remove \3/p' \
        -e 's/^\([^:]*\): \(would expire\|expired\) tags [^ ]* of revision \([^ ]*\) .*/\1 expire_tags \3/p' <<<"$1" | sort
}

json_actions() {
    jq -r '.jobs[] | .name as $n | .actions[] | "\($n) \(.action) \(.id)"' <<<"$1" | sort
}

@test "expire --dry-run --json lists what would be removed, as the lines do, and changes nothing; a real run with --json does it" {
    write_conf job1 job2
    aged_job job1
    aged_job job2
    before=$(dir_sums "$S")
    human_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --dry-run
    json_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --dry-run --json
    assert_equal "$(dir_sums "$S")" "$before"
    assert_equal "$hrc" 0
    assert_equal "$rc" 0
    assert_equal "$(json_actions "$json")" "$(human_actions "$human")"
    assert_equal "$(jq -c '[.format, .dry_run, .exit, [.jobs[] | .name, .result, .error]]' <<<"$json")" \
        '[1,true,0,["job1","done",null,"job2","done",null]]'
    assert_equal "$(jq -r '.jobs[0].dir' <<<"$json")" "$S/job1"
    # job1: the oldest loses daily and keeps weekly, the next two go
    assert_equal "$(jq -c '[.jobs[0].actions[] | [.action, .expired_tags, .kept_tags, .done, .error]]' <<<"$json")" \
        '[["expire_tags",["daily"],["weekly"],false,null],["remove",["daily"],[],false,null],["remove",["daily"],[],false,null]]'
    # the IDs and timestamps are those status lists
    local st
    st=$(backy -b "$S/job1" status --json)
    assert_equal "$(jq -c '[.jobs[0].actions[] | [.id, .timestamp_iso]]' <<<"$json")" \
        "$(jq -c '[.revisions[:3][] | [.id, .timestamp_iso]]' <<<"$st")"
    # the real run does what the dry run said
    would=$(json_actions "$json")
    json_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --json
    assert_equal "$rc" 0
    assert_equal "$(json_actions "$json")" "$would"
    assert_equal "$(jq -c '[.dry_run, ([.jobs[].actions[].done] | unique)]' <<<"$json")" '[false,[true]]'
    for id in $(jq -r '.jobs[].actions[] | select(.action == "remove") | .id' <<<"$json"); do
        assert_file_missing "$S/job1/$id.rev"
        assert_file_missing "$S/job2/$id.rev"
    done
    # nothing left to do: empty action lists, as the human run prints nothing
    human_of "$BACKY_BIN/backy" expire -c "$T/backy.conf"
    json_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --json
    assert_equal "$human" ""
    assert_equal "$(jq -c '[.jobs[].actions | length]' <<<"$json")" '[0,0]'
}

@test "expire --json with a job directory missing: that job failed with the error line, the others done, exit 1 as without --json" {
    write_conf job1 gone
    aged_job job1
    human_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --dry-run
    json_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --dry-run --json
    assert_equal "$hrc" 1
    assert_equal "$rc" 1
    assert_equal "$(jq -c '[.exit, ([.jobs[] | [.name, .result]] | sort)]' <<<"$json")" '[1,[["gone","failed"],["job1","done"]]]'
    assert_equal "backy-expire: error: $(jq -r '.jobs[] | select(.name == "gone") | .error' <<<"$json")" "$(grep 'error: ' "$T/stderr")"
    assert_equal "$(json_actions "$json")" "$(human_actions "$human")"
    # a bad job name: error before any document
    json_of "$BACKY_BIN/backy" expire -c "$T/backy.conf" --json nosuch
    assert_equal "$rc" 1
    assert_equal "$json" ""
}

# ---- verify ------------------------------------------------------------------

# "ID: LINE" of the human verify output as "ID result" lines, sorted.
human_verify() {
    sed -n -e 's/^\([^:]*\): ok .*/\1 good/p' -e 's/^\([^:]*\): DAMAGED: .*/\1 damaged/p' \
        -e 's/^\([^:]*\): no sums: .*/\1 unverifiable/p' <<<"$1" | sort
}

# compare_verify ARGS...: human and JSON verify say the same, same exit.
compare_verify() {
    human_of "$BACKY_BIN/backy-verify" "$@"
    json_of "$BACKY_BIN/backy-verify" "$@" --json
    [ "$rc" = "$hrc" ] || fail "exit status $rc with --json, $hrc without"
    assert_equal "$(jq -r .format <<<"$json")" 1
    assert_equal "$(jq -r .exit <<<"$json")" "$rc"
    assert_equal "$(jq -r '.revisions[] | "\(.id) \(.result)"' <<<"$json" | sort)" "$(human_verify "$human")"
    # the message is the human line without the ID
    assert_equal "$(jq -r '.revisions[] | "\(.id): \(.message)"' <<<"$json" | sort)" \
        "$(grep -E '^[1-9A-HJ-NP-Za-km-z]{22}: ' <<<"$human" | sort)"
}

@test "verify --json: intact, damaged (1) and unverifiable (2) revisions as the lines say, with the same exit status" {
    backy -b "$JOB" init file "$SRC"
    backy -b "$JOB" backup daily
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    change_blocks "$SRC" 5 >/dev/null
    backy -b "$JOB" backup daily
    local r1 r2 r3
    read -r r1 r2 r3 <<<"$(backy -b "$JOB" status --json | jq -r '[.revisions[].id] | join(" ")')"
    # all intact: 0
    compare_verify -b "$JOB" --all
    assert_equal "$rc" 0
    assert_equal "$(jq -c '[.revisions[] | [.result, .damaged_blocks]]' <<<"$json")" '[["good",0],["good",0],["good",0]]'
    assert_equal "$(jq -r .job <<<"$json")" "$JOB"
    compare_verify -b "$JOB"
    assert_equal "$(jq -c '[.revisions[] | [.id, .result]]' <<<"$json")" "[[\"$r3\",\"good\"]]"
    assert_equal "$(jq -c '.revisions[0] | [.timestamp_iso, .tags]' <<<"$json")" \
        "$(backy -b "$JOB" status --json | jq -c '.revisions[2] | [.timestamp_iso, .tags]')"
    # r2 without sums (as backy 2.0 made it): 2
    mv "$JOB/$r2.sums" "$T/r2.sums"
    compare_verify -b "$JOB" --all
    assert_equal "$rc" 2
    assert_equal "$(jq -c --arg id "$r2" '.revisions[] | select(.id == $id) | [.result, .damaged_blocks]' <<<"$json")" '["unverifiable",null]'
    compare_verify -b "$JOB" -r "$r2"
    assert_equal "$rc" 2
    # r1 damaged in two blocks: 1, whatever else
    chmod u+w "$JOB/$r1"
    printf 'XY' | dd of="$JOB/$r1" bs=1 seek=$((3 * 65536 + 10)) conv=notrunc status=none
    printf 'XY' | dd of="$JOB/$r1" bs=1 seek=$((40 * 65536)) conv=notrunc status=none
    chmod 0440 "$JOB/$r1"
    compare_verify -b "$JOB" --all
    assert_equal "$rc" 1
    assert_equal "$(jq -c --arg id "$r1" '.revisions[] | select(.id == $id) | [.result, .damaged_blocks]' <<<"$json")" '["damaged",2]'
    assert_equal "$(jq -r --arg id "$r1" '.revisions[] | select(.id == $id) | .message' <<<"$json")" \
        "DAMAGED: 2 of 64 blocks of 65536 bytes differ; offsets 196608 2621440"
    compare_verify -b "$JOB" -r "$r1"
    assert_equal "$rc" 1
    assert_equal "$(jq -c '.revisions[0] | [.result, .recorded]' <<<"$json")" '["damaged",true]'
    # the record verify wrote: status shows it, with the State column's words
    compare_status "$JOB"
    assert_equal "$(jq -c --arg id "$r1" '.revisions[] | select(.id == $id) | [.quarantined, .state, .verify.result, .verify.damaged_blocks]' <<<"$json")" \
        '[true,["quarantined"],"damaged",2]'
    assert_equal "$(jq -c --arg id "$r2" '.revisions[] | select(.id == $id) | [.quarantined, .state, .verify.result]' <<<"$json")" \
        '[false,["unverifiable"],"unverifiable"]'
    # find refuses the quarantined revision either way; --force finds it
    human_of backy -b "$JOB" find -r "$r1"
    json_of backy -b "$JOB" find -r "$r1" --json
    assert_equal "$hrc" 1
    assert_equal "$rc" 1
    assert_equal "$json" ""
    json_of backy -b "$JOB" find -r "$r1" --force --json
    assert_equal "$rc" 0
    assert_equal "$(jq -c '[.id, .quarantined]' <<<"$json")" "[\"$r1\",true]"
    # an image whose size does not match its sums: damaged, blocks not counted
    mv "$T/r2.sums" "$JOB/$r2.sums"
    chmod u+w "$JOB/$r2"
    truncate -s 1M "$JOB/$r2"
    compare_verify -b "$JOB" -r "$r2"
    assert_equal "$rc" 1
    assert_equal "$(jq -c '.revisions[0] | [.result, .damaged_blocks]' <<<"$json")" '["damaged",null]'
    # errors: no document, same exit status
    for args in "-r nope" "--all -r 0"; do
        human_of "$BACKY_BIN/backy-verify" -b "$JOB" $args
        json_of "$BACKY_BIN/backy-verify" -b "$JOB" $args --json
        assert_equal "$rc" "$hrc"
        assert_equal "$rc" 1
        assert_equal "$json" ""
    done
}

# ---- check -------------------------------------------------------------------

# write_status FILE WRITTEN-AGO JOB:LAST-AGO ... (LAST-AGO "-" for none), as
# the scheduler writes it
write_status() {
    python3 - "$@" <<'PY'
import json, sys, time
now = time.time()
path, ago = sys.argv[1], float(sys.argv[2])
jobs = []
for spec in sys.argv[3:]:
    name, last = spec.split(":")
    jobs.append({"name": name, "schedule": "s", "sla": "OK", "sla_ok": True,
                 "status": "waiting", "pid": None,
                 "last_time": None if last == "-" else now - float(last),
                 "last_tags": "daily", "last_duration": 1.0, "next_time": now + 60,
                 "next_tags": "daily", "min_interval": 3600, "last_exit": 0})
json.dump({"format": 1, "scheduler": {"pid": 1, "started": now - 100, "written": now - ago,
           "worker_limit": 1, "workers_busy": 0, "jobs": len(jobs), "status_interval": 30,
           "config": "x"}, "jobs": jobs}, open(path, "w"))
PY
}

check_conf() {
    local j
    {
        printf 'config:\n    base-dir: %s\n    status-file: %s/status\n' "$S" "$T"
        printf 'schedules:\n    s:\n        hourly: {interval: 1h, keep: 3}\n        daily: {interval: 1d, keep: 3}\n'
        printf 'jobs:\n'
        for j in "$@"; do
            printf '    %s:\n        schedule: s\n        source: {type: file, filename: %s}\n' "$j" "$T/$j.img"
        done
    } >"$T/backy.conf"
}

# assert_output_has TEXT: the human line contains TEXT.
assert_output_has() {
    [[ $human == *"$1"* ]] || fail "'$1' not in: $human"
}

# compare_check: the line and the document of two runs say the same (the
# ages may differ by the second between the runs).
compare_check() {
    human_of "$BACKY_BIN/backy" check -c "$T/backy.conf"
    json_of "$BACKY_BIN/backy" check -c "$T/backy.conf" --json
    [ "$rc" = "$hrc" ] || fail "exit status $rc with --json, $hrc without"
    assert_equal "$(jq -r .format <<<"$json")" 1
    assert_equal "$(jq -r .exit <<<"$json")" "$rc"
    assert_equal "BACKY $(jq -r .state <<<"$json") - " "$(grep -oE '^BACKY [A-Z]+ - ' <<<"$human")"
    assert_equal "$(jq -r .message <<<"$json" | sed 's/[0-9][0-9]*/N/g')" "$(sed 's/[0-9][0-9]*/N/g' <<<"$human")"
}

@test "check --json: OK, CRITICAL with the late jobs and why, the line as message, the same exit status" {
    check_conf a b c
    write_status "$T/status" 5 a:60 b:3600 c:5300
    compare_check
    assert_equal "$rc" 0
    assert_equal "$(jq -r .message <<<"$json")" "$human"
    assert_equal "$(jq -c '[.state, .summary.jobs, .summary.late, [.jobs[] | [.name, .state, .problems, .sla_ok, .in_status_file, .interval]]]' <<<"$json")" \
        '["OK",3,0,[["a","OK",[],true,true,3600],["b","OK",[],true,true,3600],["c","OK",[],true,true,3600]]]'
    assert_equal "$(jq -r '.jobs[] | select(.name == "c") | .age | . > 5298 and . < 5310' <<<"$json")" true
    assert_equal "$(jq -c '.status_file | [.path, .stale_limit, .stale, (.age < 10)]' <<<"$json")" "[\"$T/status\",300,false,true]"
    # a late, b never backed up, c not in the status file
    write_status "$T/status" 5 a:5500 b:-
    compare_check
    assert_equal "$rc" 2
    assert_equal "$(jq -r '.message | sub(" \\|.*"; "")' <<<"$json")" "${human%% |*}"
    assert_equal "$(jq -c '[.state, .summary.late, [.jobs[] | [.name, .state, .problems, .sla_ok, .in_status_file, .last_time]]]' <<<"$json")" \
        '["CRITICAL",3,[["a","CRITICAL",["last backup older than 1.5 x interval"],false,true,'"$(jq '.jobs[] | select(.name == "a") | .last_time' <<<"$json")"'],["b","CRITICAL",["no backup"],false,true,null],["c","CRITICAL",["not in status file"],false,false,null]]]'
    # the late jobs the line names are those the document calls CRITICAL
    assert_equal "$(jq -r '[.jobs[] | select(.state == "CRITICAL") | .name] | join(" ")' <<<"$json")" \
        "$(sed -E 's/.*interval\): ([^|]*) \|.*/\1/; s/ \([^)]*\)//g; s/,//g' <<<"$human")"
}

# add_fields FILE JOB JSON: merge fields into one job of a status file
add_fields() {
    jq --arg n "$2" --argjson x "$3" '.jobs |= map(if .name == $n then . + $x else . end)' "$1" >"$1.new"
    mv "$1.new" "$1"
}

@test "check --json: WARNING (1) for quarantined, future-dated revisions and failed backups, each reason a problem; CRITICAL for a vanished directory" {
    check_conf a b c
    write_status "$T/status" 5 a:60 b:60 c:60
    add_fields "$T/status" a '{"quarantined": 2}'
    add_fields "$T/status" c '{"failures": 3, "last_error": "cannot open source file: /src/c: No such file or directory", "future": 1, "retry_time": '"$(($(date +%s) + 600))"'}'
    compare_check
    assert_equal "$rc" 1
    assert_equal "$(jq -r '.message | sub(" \\|.*"; "")' <<<"$json")" "${human%% |*}"
    assert_equal "$(jq -c '[.state, .summary.late, .summary.warnings, [.jobs[] | [.name, .state, .problems]]]' <<<"$json")" \
        '["WARNING",0,2,[["a","WARNING",["2 quarantined"]],["b","OK",[]],["c","WARNING",["1 dated in the future","last backup failed: cannot open source file: /src/c: No such file or directory"]]]]'
    # each WARNING job is named in the line with its problems
    local j
    for j in $(jq -r '.jobs[] | select(.state == "WARNING") | "\(.name) (\(.problems | join(", ")))" | @base64' <<<"$json"); do
        assert_output_has "$(base64 -d <<<"$j")"
    done
    assert_equal "$(jq -c '.jobs[] | select(.name == "c") | [.quarantined, .future, .failures, .last_error, (.retry_time > 0), .dir_missing, .sla_ok]' <<<"$json")" \
        '[0,1,3,"cannot open source file: /src/c: No such file or directory",true,false,true]'
    assert_equal "$(jq -c '.jobs[] | select(.name == "b") | [.last_error, .retry_time, .retry_time_iso, .failures]' <<<"$json")" '[null,null,null,0]'
    # a vanished job directory: CRITICAL, its problem first
    add_fields "$T/status" b '{"dir_missing": true}'
    compare_check
    assert_equal "$rc" 2
    assert_equal "$(jq -c '[.state, .summary.late, .summary.warnings, (.jobs[] | select(.name == "b") | [.state, .problems, .dir_missing])]' <<<"$json")" \
        '["CRITICAL",1,2,["CRITICAL",["job directory missing"],true]]'
}

@test "check --json: a stale status file is CRITICAL, a missing config or status file UNKNOWN (3), as without --json" {
    check_conf a
    write_status "$T/status" 500 a:60
    compare_check
    assert_equal "$rc" 2
    assert_equal "$(jq -c '[.state, .status_file.stale, (.status_file.age >= 499), .jobs]' <<<"$json")" '["CRITICAL",true,true,[]]'
    rm "$T/status"
    compare_check
    assert_equal "$rc" 3
    assert_equal "$(jq -r .message <<<"$json")" "$human"
    assert_equal "$(jq -c '[.state, .status_file.path, .status_file.written, .jobs]' <<<"$json")" "[\"UNKNOWN\",\"$T/status\",null,[]]"
    printf 'jobs: [\n' >"$T/backy.conf"
    compare_check
    assert_equal "$rc" 3
    assert_equal "$(jq -r .message <<<"$json")" "$human"
    assert_equal "$(jq -c '[.state, .status_file, .jobs]' <<<"$json")" '["UNKNOWN",null,[]]'
}
