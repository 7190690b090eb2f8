# replication.bash - helpers of tests/replication.bats and push-ssh.bats.
# Load after lib/common.

STREAMEDIT="python3 $BACKY_ROOT/tests/lib/streamedit.py"

last_rev() { basename "$(readlink "$1/last")"; }

# src_job JOBDIR SOURCE SIZE: a file job with one revision (tag daily)
src_job() {
    make_source "$2" "$3"
    backy -b "$1" init file "$2" >/dev/null
    backy -b "$1" backup daily >/dev/null
}

# another_rev JOBDIR SOURCE TAGS: change 1% of the blocks, back up;
# prints the number of changed blocks
another_rev() {
    local n
    n=$(change_blocks "$2" 1)
    backy -b "$1" backup "$3" >/dev/null
    echo "$n"
}

# complete revision IDs of JOBDIR, oldest first (backy revisions)
complete_ids() {
    backy -b "$1" revisions | awk '$4 == "complete" { print $1 }'
}

# assert_same_revs SRCJOB DSTJOB ID...: image, .rev and sums equal byte for byte
assert_same_revs() {
    local a=$1 b=$2 id
    shift 2
    for id in "$@"; do
        assert_files_equal "$a/$id" "$b/$id"
        assert_files_equal "$a/$id.rev" "$b/$id.rev"
        assert_files_equal "$a/$id.sums" "$b/$id.sums"
    done
}

# The complete revisions of JOBDIR with their checksums: what a refused
# stream must leave as it was.
complete_sums() {
    local id
    for id in $(complete_ids "$1"); do
        echo "$id $(sha256sum <"$1/$id" | cut -d' ' -f1) $(sha256sum <"$1/$id.rev" | cut -d' ' -f1)"
    done
    readlink "$1/last" || true
}
