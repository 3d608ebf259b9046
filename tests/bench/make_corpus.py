#!/usr/bin/env python3
"""Captures a corpus of real Notify frames for bench_notify (not a test).

Starts ipo-sim (the build tree of MTCTI3_BUILD_DIR), subscribes as the
bridge does (Lines flags 7; every user with flags 0xf ccflags 0x99; every
queue with flags 0x3 ccflags 0x41; one presence subscription listing every
user, flags 0x1; the park server, ccflags 0x1), acknowledges every Notify at
once, turns on the ingest benchmark's kind of load (presence churn and a
trickle of calls, in the same proportion) and writes every Notify frame it
receives, as received, with what the bridge would know of it:

    # comment
    P <lref> <user guid>                     the presence subscription's lref
    N <kind> <guid|-> <extn|-> <snapshot> <hex frame>

kind is the subscription's (lines, user, queue, presence, parkserver);
guid and extn those of the user or queue subscribed ("parkserver" for the
park server, "-" for lines and presence); snapshot is 1 for the first
Notify of a subscription made while the connection's first Lines list was
being subscribed (the bridge's subs_target_t.snapshot).  The frame is the
websocket payload with its 00 00 00 01 header.

Usage: MTCTI3_BUILD_DIR=build tests/.work/venv/bin/python \
           tests/bench/make_corpus.py --out tests/bench/corpus/notify-300u.txt
"""
import argparse
import asyncio
import pathlib
import sys
import tempfile
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
sys.path.insert(0, str(TOP / "tests" / "bridge"))
sys.path.insert(0, str(TOP / "tests" / ".work" / "py"))

import ipo_mtcti3_pb2 as pb  # noqa: E402
from bridgelib import Sim  # noqa: E402
from mtcti3_client import Mtcti3Client  # noqa: E402

WINDOW = 64  # subscribe requests in flight, as the bridge's subscribe_window


class Capture:
    def __init__(self, client, out):
        self.client = client
        self.out = out
        self.targets = {}     # subscribe_id -> (kind, guid, extn, initial)
        self.notified = set()
        self.responses = {}   # requestid -> result
        self.lines = None     # the first NotifyLines
        self.frames = 0
        self.traffic_frames = 0
        self.counting = False

    async def read(self, timeout):
        data = await asyncio.wait_for(self.client.ws.recv(), timeout)
        msg = self.client._decode(data)
        kind = msg.WhichOneof("payload")
        if kind == "response":
            self.responses[msg.response.requestid] = msg.response.result
        elif kind == "notify":
            n = msg.notify
            target = self.targets.get(n.subscribe_id)
            if target:
                tkind, guid, extn, initial = target
                first = n.subscribe_id not in self.notified
                self.notified.add(n.subscribe_id)
                snapshot = 1 if first and initial else 0
                self.out.write(f"N {tkind} {guid or '-'} {extn or '-'} {snapshot} {data.hex()}\n")
                self.frames += 1
                if self.counting:
                    self.traffic_frames += 1
                if tkind == "lines" and self.lines is None:
                    self.lines = n.lines
            if n.notify_id:
                await self.client.ack(n)
        return msg

    async def until(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(what)
            try:
                await self.read(left)
            except asyncio.TimeoutError:
                pass

    async def subscribe_all(self, requests):
        """requests: [(subscribe_id, target, fields)], at most WINDOW in flight."""
        rid = 1000
        for start in range(0, len(requests), WINDOW):
            batch = []
            for sid, target, fields in requests[start:start + WINDOW]:
                rid += 1
                self.targets[sid] = target
                await self.client.subscribe(requestid=rid, subscribe_id=sid, timeout=3600, **fields)
                batch.append(rid)
            await self.until(lambda: all(r in self.responses for r in batch), 30, "subscribe responses")
            bad = [self.responses[r] for r in batch if self.responses[r] != 0]
            if bad:
                raise RuntimeError(f"subscriptions refused: {bad}")


def guid_text(b):
    return str(uuid.UUID(bytes=bytes(b)))


async def capture(args, sim, out):
    client = await Mtcti3Client.connect(sim.url, sim.user, sim.password, pb=pb,
                                        cafile=str(sim.workdir / "tls" / "ca.pem"))
    cap = Capture(client, out)
    cap.targets[1] = ("lines", "", "", True)
    await client.subscribe(requestid=1, subscribe_id=1, timeout=3600, lines={"flags": 7})
    await cap.until(lambda: cap.lines is not None, 30, "the first NotifyLines")
    lines = cap.lines
    requests, presence = [], []
    sid = 100
    for u in lines.adduser:
        sid += 1
        requests.append((sid, ("user", guid_text(u.guid), u.extn, True),
                         {"user": {"guid": bytes(u.guid), "flags": 0xf, "ccflags": 0x99}}))
        presence.append((len(presence) + 1, guid_text(u.guid), u.extn))
    for q in lines.addqueue:
        sid += 1
        requests.append((sid, ("queue", guid_text(q.guid), q.extn, True),
                         {"queue": {"guid": bytes(q.guid), "flags": 0x3, "ccflags": 0x41}}))
    for lref, guid, _ in presence:
        out.write(f"P {lref} {guid}\n")
    requests.append((2, ("presence", "", "", True),
                     {"presence": {"flags": 1, "entry": [{"presentity": extn, "lref": lref}
                                                         for lref, _, extn in presence]}}))
    if lines.flags & 1:
        requests.append((3, ("parkserver", "parkserver", "", True), {"parkserver": {"ccflags": 1}}))
    await cap.subscribe_all(requests)
    # every subscription's snapshot in (the park server's comes with its first parked call)
    want = {sid for sid, target, _ in requests if target[0] != "parkserver"} | {1}
    await cap.until(lambda: want <= cap.notified, 60, "every snapshot")
    sim.ctl("POST", "/traffic", {"calls_per_second": args.cps, "user_changes_per_second": args.changes})
    cap.counting = True
    deadline = time.monotonic() + args.max_seconds
    await cap.until(lambda: cap.traffic_frames >= args.frames or time.monotonic() > deadline,
                    args.max_seconds + 5, "traffic frames")
    sim.ctl("POST", "/traffic", {"calls_per_second": 0, "user_changes_per_second": 0})
    await client.close()
    return cap


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--queues", type=int, default=30)
    ap.add_argument("--changes", type=float, default=1500, help="user changes/s offered")
    ap.add_argument("--cps", type=float, default=3, help="new calls/s offered")
    ap.add_argument("--frames", type=int, default=4000, help="Notifies of the load to keep")
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    sim = Sim(work / "sim", users=args.users, queues=args.queues, seed=args.seed,
              extra=["--log-level", "warn"]).start()
    try:
        with open(args.out, "w") as out:
            out.write(f"# mtcti3 Notify corpus: ipo-sim --users {args.users} --queues {args.queues} "
                      f"--seed {args.seed}, load {args.changes:g} user changes/s and {args.cps:g} "
                      f"calls/s; written by tests/bench/make_corpus.py\n")
            cap = asyncio.run(capture(args, sim, out))
        print(f"{args.out}: {cap.frames} frames ({cap.traffic_frames} under load)")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
