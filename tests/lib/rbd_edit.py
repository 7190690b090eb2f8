#!/usr/bin/python3
"""Change an RBD image in place through librbd's Python binding (the test
suites need writes and discards at arbitrary offsets, which the rbd tool
does not offer). Uses CEPH_CONF and client.admin.

  rbd_edit.py POOL/IMAGE OP...
OPs, applied in order (sizes take K/M/G suffixes):
  w:OFFSET:LENGTH[:SEED]   write pseudo-random non-zero data (deterministic from SEED)
  z:OFFSET:LENGTH          write zeros (data that reads as zeros)
  d:OFFSET:LENGTH          discard (librbd ignores discards below 64 KiB)
  r:SIZE                   resize
  f:CHUNK[:SEED]           fill: data in every chunk except every 4th (left unwritten)
"""
import os
import random
import sys

import rados
import rbd


def size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1].upper()] if s[-1].upper() in mult else int(s)


def data(n, seed):
    rng = random.Random(seed)
    b = bytearray(rng.randbytes(n))
    for i in range(0, n, 512):      # never an all-zero block
        b[i] = b[i] | 1
    return bytes(b)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pool, image = sys.argv[1].split("/", 1)
    cluster = rados.Rados(conffile=os.environ.get("CEPH_CONF", ""), rados_id="admin")
    cluster.connect()
    try:
        io = cluster.open_ioctx(pool)
        img = rbd.Image(io, image)
        try:
            for op in sys.argv[2:]:
                p = op.split(":")
                if p[0] == "w":
                    off, ln = size(p[1]), size(p[2])
                    img.write(data(ln, p[3] if len(p) > 3 else op), off)
                elif p[0] == "z":
                    img.write(bytes(size(p[2])), size(p[1]))
                elif p[0] == "d":
                    img.discard(size(p[1]), size(p[2]))
                elif p[0] == "r":
                    img.resize(size(p[1]))
                elif p[0] == "f":
                    chunk = size(p[1])
                    seed = p[2] if len(p) > 2 else "fill"
                    total = img.size()
                    for i, off in enumerate(range(0, total, chunk)):
                        if i % 4 != 3:
                            n = min(chunk, total - off)
                            img.write(data(n, "%s-%d" % (seed, i)), off)
                else:
                    sys.exit("rbd_edit.py: error: unknown operation: " + op)
        finally:
            img.close()
            io.close()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
