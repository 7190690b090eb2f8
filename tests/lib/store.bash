# store.bash - helpers of the job-store suites (tests/store-*.bats).
# Load after lib/common.

# The path of the newest revision's image (backy find).
last_image() {
    backy -b "$1" find
}

# The ID of the newest revision.
last_id() {
    basename "$(backy -b "$1" find)"
}

# backup_saving JOBDIR TAGS SOURCE: run a backup and keep a copy of the
# source as it was, as $T/states/ID, for later comparison.
backup_saving() {
    local job=$1 tags=$2 src=$3 id
    backy -b "$job" backup "$tags"
    id=$(last_id "$job")
    mkdir -p "$T/states"
    cp --sparse=always "$src" "$T/states/$id"
    echo "$id" >>"$T/states/order"
}

# Restore every saved revision and compare it with the saved source state.
assert_all_states_restore() {
    local job=$1 id n=0
    while read -r id; do
        rm -f "$T/restored"
        backy -b "$job" restore -r "$id" "$T/restored"
        assert_files_equal "$T/states/$id" "$T/restored"
        n=$((n + 1))
    done <"$T/states/order"
    [ "$n" -gt 0 ]
}

# restore_to JOBDIR SPEC TARGET (restore -r SPEC TARGET).
restore_to() {
    backy -b "$1" restore -r "$2" "$3"
}

# Number of revisions listed by status ("N revisions" in the summary).
status_count() {
    backy -b "$1" status | sed -n 's/^\([0-9][0-9]*\) revisions\{0,1\}$/\1/p'
}

# The .rev files and images of JOBDIR with their checksums.
store_sums() {
    dir_sums "$1"
}
