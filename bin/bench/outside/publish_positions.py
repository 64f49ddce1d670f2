#!/usr/bin/env python3
"""Publishes pre-encoded patrol positions from a separate process, with nats-py, as devices or
their gateway would: core NATS publishes (JetStream captures them on the feed's subjects),
flushed every `--flush-every` messages. Used by `civicgrid-bench patrol --outside-publisher`
so the ingest rate is also measured with a client that is not the bench's own.

Input file: for each fix, a 2-byte big-endian subject length, the subject, a 4-byte big-endian
payload length, the payload (a civicgrid.v1.PositionFix). Prints one JSON line:
{"published": N, "secs": S}.
"""

import argparse
import asyncio
import json
import struct
import time

import nats


def read_fixes(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        (slen,) = struct.unpack_from(">H", data, i)
        i += 2
        subject = data[i:i + slen].decode()
        i += slen
        (plen,) = struct.unpack_from(">I", data, i)
        i += 4
        out.append((subject, data[i:i + plen]))
        i += plen
    return out


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--flush-every", type=int, default=2000)
    args = ap.parse_args()
    fixes = read_fixes(args.file)
    nc = await nats.connect(args.url, pending_size=64 * 1024 * 1024)
    started = time.monotonic()
    for n, (subject, payload) in enumerate(fixes, 1):
        await nc.publish(subject, payload)
        if n % args.flush_every == 0:
            await nc.flush()
    await nc.flush()
    secs = time.monotonic() - started
    await nc.close()
    print(json.dumps({"published": len(fixes), "secs": secs}))


if __name__ == "__main__":
    asyncio.run(main())
