#!/usr/bin/env python3
"""report.py RESULTS SIZE_BYTES BIG: the table of bench/delta.sh.

RESULTS has lines "TAG.NAME VALUE MAXRSS_KB" (VALUE: seconds, or bytes for
changed_bytes / exclusive_bytes). Prints medians, ratios against the
baselines of the same run, the goals, and whether each is met."""
import statistics
import sys
from collections import defaultdict

MIB = 1 << 20


def load(path):
    vals, rss = defaultdict(list), defaultdict(list)
    with open(path) as f:
        for line in f:
            name, v, r = line.split()
            vals[name].append(float(v))
            rss[name].append(int(r))
    return vals, rss


def report(vals, rss, tag, size):
    def med(n):
        v = vals.get(tag + "." + n)
        return statistics.median(v) if v else float("nan")

    runs = len(vals.get(tag + ".floor_cache", []))
    blocks = (size + 65535) // 65536
    sums_mib = 2 * 16 * blocks / MIB     # parent's and new sums in memory
    print("\n%s: source %.1f GiB, median of %d interleaved runs, 1%% of 64 KiB blocks changed"
          % (tag, size / (1 << 30), runs))
    print("%-44s %10s %10s  %-14s %s" % ("measurement", "median", "ratio", "goal", "met"))
    rows = []

    def row(label, value, unit, ratio=None, goal=None, ok=None):
        rows.append((label, value, unit, ratio, goal, ok))

    fc, fcold = med("floor_cache"), med("floor_cold")
    row("read floor, page cache (dd bs=4M)", fc, "s")
    row("read floor, cold (dd bs=4M)", fcold, "s")
    row("rsync --inplace --no-whole-file", med("rsync"), "s")
    for name, label, base, goal in (
        ("backup_cache_off", "backy incremental, page cache, verify off", fc, 1.3),
        ("backup_cache_default", "backy incremental, page cache, verify default", fc, 2.0),
        ("backup_cold_off", "backy incremental, cold, verify off", fcold, 1.2),
        ("backup_cold_default", "backy incremental, cold, verify default", fcold, 1.2),
    ):
        v = med(name)
        r = v / base
        row(label, v, "s", "%.2fx floor" % r, "<= %.1fx" % goal, r <= goal)
    speed = med("rsync") / med("backup_cache_default")
    row("rsync time / backy time (page cache)", speed, "x", None, ">= 6x", speed >= 6)
    excl, changed = med("exclusive_bytes"), med("changed_bytes")
    row("changed bytes", changed / MIB, "MiB")
    row("exclusive bytes of the new revision", excl / MIB, "MiB", "%.3fx changed" % (excl / changed),
        "<= 1.05x", excl / changed <= 1.05)
    full = med("backup_full")
    row("backy full first backup, page cache", full, "s", "%.2fx floor" % (full / fc))
    rb = med("restore_btrfs")
    row("restore to the same btrfs (reflink, --no-verify), newest revision", rb * 1000, "ms", None,
        "< 50 ms", rb < 0.05)
    if vals.get(tag + ".restore_btrfs_checked"):
        rc = med("restore_btrfs_checked")
        row("restore to the same btrfs (reflink + check), newest revision", rc, "s",
            "%.2fx cat speed" % (med("cat_stdout") / rc))
    if vals.get(tag + ".restore_btrfs_first"):
        rf = med("restore_btrfs_first")
        row("restore to the same btrfs (reflink, --no-verify), first revision", rf * 1000, "ms", None,
            "< 50 ms", rf < 0.05)
    for dst in ("ext4", "stdout"):
        cat, rest = med("cat_" + dst), med("restore_" + dst)
        label = "restore to ext4 (+fsync)" if dst == "ext4" else "restore to stdout > /dev/null"
        row("cat to " + dst + (" (+fsync)" if dst == "ext4" else " > /dev/null"), cat, "s")
        row(label, rest, "s", "%.2fx cat speed" % (cat / rest), ">= 0.9x", cat / rest >= 0.9)
    if vals.get(tag + ".restore_stdout_noverify"):
        rn = med("restore_stdout_noverify")
        row("restore to stdout > /dev/null, --no-verify", rn, "s",
            "%.2fx cat speed" % (med("cat_stdout") / rn))
    peak = max(max(rss.get(tag + "." + n, [0])) for n in
               ("backup_cache_off", "backup_cache_default", "backup_cold_off",
                "backup_cold_default", "backup_full")) / 1024
    row("peak RSS of backy-backup", peak, "MiB", None, "< %.0f MiB" % (64 + sums_mib),
        peak < 64 + sums_mib)
    for name, label in (("backup_cache_off", "page cache, verify off"),
                        ("backup_cache_default", "page cache, verify default"),
                        ("backup_cold_off", "cold, verify off"),
                        ("backup_cold_default", "cold, verify default")):
        if vals.get(tag + "." + name + ".pass"):
            row("  phases of incremental, %s: clone (beside the pass) / pass / after the pass"
                % label, 0, "phases", "%.3f / %.3f / %.3f s" % (
                    med(name + ".clone"), med(name + ".pass"), med(name + ".after")))
    ok_all = True
    for label, value, unit, ratio, goal, ok in rows:
        if unit == "phases":
            print("%s: %s" % (label, ratio))
            continue
        v = "%.3f %s" % (value, unit) if unit in ("s", "x") else "%.1f %s" % (value, unit)
        met = "" if ok is None else ("yes" if ok else "NO")
        ok_all &= ok is not False
        print("%-44s %12s %16s  %-10s %s" % (label, v, ratio or "", goal or "", met))
    return ok_all


def main(argv):
    vals, rss = load(argv[1])
    size = int(argv[2])
    have_main = any(k.startswith("main.") for k in vals)
    have_big = argv[3] == "1" and any(k.startswith("big.") for k in vals)
    ok = True
    if have_main:
        ok &= report(vals, rss, "main", size)
    if have_big:
        ok &= report(vals, rss, "big", 16 << 30)
    if have_main and have_big:
        for n in ("backup_cache_default", "backup_full"):
            a = statistics.median(vals["main." + n])
            b = statistics.median(vals["big." + n])
            print("16 GiB / %.0f GiB time of %s: %.2f (4.0 = linear)" % (size / (1 << 30), n, b / a))
    print("\nall goals met" if ok else "\nsome goals NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
