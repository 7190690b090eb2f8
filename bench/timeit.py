#!/usr/bin/env python3
"""timeit.py OUT CMD [ARG...]: run CMD (stdout/stderr inherited), write
"SECONDS MAXRSS_KB" of it to OUT; exit with CMD's status. Wall time is
measured around the child only, with a monotonic clock."""
import resource
import subprocess
import sys
import time


def main(argv):
    out, cmd = argv[1], argv[2:]
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    dt = time.monotonic() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(out, "w") as f:
        f.write("%.6f %d\n" % (dt, rss))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
