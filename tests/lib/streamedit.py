#!/usr/bin/env python3
"""Damage replication streams (doc/replication.md) for the tests.

  streamedit.py records STREAM
      prints "OFFSET TYPE LENGTH" of every record (after the 16-byte preamble).
  streamedit.py swap STREAM OUT
      OUT: STREAM with its first two DATA records swapped (each stays intact:
      only the order of the blocks is wrong).
  streamedit.py flip STREAM OUT OFFSET
      OUT: STREAM with the lowest bit of byte OFFSET flipped.
  streamedit.py version STREAM OUT N
      OUT: STREAM with version N in its preamble.
"""
import struct
import sys


def records(data):
    off = 16
    out = []
    while off + 24 <= len(data):
        typ, _res, length, _check = struct.unpack_from("<IIQQ", data, off)
        out.append((off, typ, length))
        off += 24 + length
    return out


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    data = bytearray(open(path, "rb").read())
    if cmd == "records":
        for off, typ, length in records(data):
            print(off, typ, length)
        return
    out = sys.argv[3]
    if cmd == "swap":
        recs = [r for r in records(data) if r[1] == 3]
        if len(recs) < 2:
            sys.exit("fewer than two DATA records")
        (o1, _, l1), (o2, _, l2) = recs[0], recs[1]
        a = bytes(data[o1:o1 + 24 + l1])
        b = bytes(data[o2:o2 + 24 + l2])
        data = data[:o1] + b + data[o1 + 24 + l1:o2] + a + data[o2 + 24 + l2:]
    elif cmd == "flip":
        data[int(sys.argv[4])] ^= 1
    elif cmd == "version":
        struct.pack_into("<I", data, 8, int(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)
    open(out, "wb").write(bytes(data))


main()
