#!/usr/bin/env python3
"""Test data for the bats suites: deterministic sources, block changes,
hole inspection.

  datagen.py make FILE SIZE [SEED]
      FILE of SIZE bytes (suffix K/M/G allowed) of pseudo-random data from
      SEED, with zero regions: every 4th chunk (1 MiB chunks, or 64 KiB for
      files under 4 MiB) is all zeros, written as zeros, not as holes.
  datagen.py change FILE PERCENT BLOCKSIZE [SEED]
      overwrite round(PERCENT% of the blocks) (at least one) with new
      non-zero pseudo-random data, chosen deterministically from SEED;
      prints the number of changed blocks.
  datagen.py holes FILE
      prints "OFFSET LENGTH" of every hole (SEEK_HOLE/SEEK_DATA).
  datagen.py ishole FILE OFFSET LENGTH
      exit 0 if [OFFSET, OFFSET+LENGTH) is entirely a hole, else 1.
  datagen.py zeros FILE CHUNK
      prints the offsets of the all-zero CHUNK-sized chunks of FILE.
"""
import os
import random
import signal
import sys

MIB = 1 << 20


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip()
    if s and s[-1].upper() in mult:
        return int(float(s[:-1]) * mult[s[-1].upper()])
    return int(s)


def chunk_size(size):
    return MIB if size >= 4 * MIB else 64 << 10


def nonzero_bytes(rng, n):
    b = bytearray(rng.randbytes(n))
    if n and not any(b[:64]):
        b[0] = 1
    # Guarantee every 4 KiB piece is non-zero, so no block of the change
    # could be mistaken for a zero block.
    for off in range(0, n, 4096):
        if b[off] == 0:
            b[off] = 0xA5
    return bytes(b)


def make(path, size, seed):
    rng = random.Random(seed)
    chunk = chunk_size(size)
    with open(path, "wb") as f:
        off = 0
        i = 0
        while off < size:
            n = min(chunk, size - off)
            if i % 4 == 1:
                f.write(b"\0" * n)
            else:
                f.write(nonzero_bytes(rng, n))
            off += n
            i += 1
        f.flush()
        os.fsync(f.fileno())


def change(path, percent, bs, seed):
    size = os.path.getsize(path)
    nblocks = (size + bs - 1) // bs
    if nblocks == 0:
        print(0)
        return
    k = max(1, int(round(nblocks * percent / 100.0)))
    k = min(k, nblocks)
    rng = random.Random("change-%s-%s" % (seed, percent))
    blocks = sorted(rng.sample(range(nblocks), k))
    with open(path, "r+b") as f:
        for blk in blocks:
            off = blk * bs
            n = min(bs, size - off)
            f.seek(off)
            f.write(nonzero_bytes(rng, n))
        f.flush()
        os.fsync(f.fileno())
    print(k)


def holes(path):
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                h = os.lseek(fd, off, os.SEEK_HOLE)
            except OSError:
                break
            if h >= size:
                break
            try:
                d = os.lseek(fd, h, os.SEEK_DATA)
            except OSError:  # ENXIO: hole up to the end
                d = size
            out.append((h, d - h))
            off = d
    finally:
        os.close(fd)
    return out


def ishole(path, off, length):
    for h, n in holes(path):
        if h <= off and off + length <= h + n:
            return True
    return False


def zeros(path, chunk):
    with open(path, "rb") as f:
        off = 0
        while True:
            b = f.read(chunk)
            if not b:
                break
            if not any(b):
                print(off)
            off += len(b)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "make":
        make(argv[2], parse_size(argv[3]), argv[4] if len(argv) > 4 else "backy")
    elif cmd == "change":
        change(argv[2], float(argv[3]), parse_size(argv[4]),
               argv[5] if len(argv) > 5 else "backy")
    elif cmd == "holes":
        for h, n in holes(argv[2]):
            print(h, n)
    elif cmd == "ishole":
        return 0 if ishole(argv[2], parse_size(argv[3]), parse_size(argv[4])) else 1
    elif cmd == "zeros":
        zeros(argv[2], parse_size(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main(sys.argv))
