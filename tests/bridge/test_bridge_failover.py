"""Failover and scale-out (issue #10): several instances in one Kafka group,
each PBX owned by the member that holds partition 0 of its commands topic;
the others are warm standbys.  Real Kafka, real Redis, ipo-sim, the bridge.

  SIGKILL       the owner dies under traffic and a stream of commands: the
                standby takes over (after the group's session timeout), every
                entity's seq runs on without a gap, no ce_id names two bodies,
                every command gets one outcome, the final states equal the
                simulator's
  SIGSTOP       the owner stalls past the session timeout: the standby fences
                it (same transactional.id); once resumed, the old owner's
                writes are refused (nothing it says reaches a read_committed
                consumer), it hands over and rejoins as a standby, and takes
                the PBX back when the new owner dies
  SIGTERM       the owner leaves the group on its way out: the standby owns
                the PBX within a few seconds, not after a session timeout
  scale-out     3 instances, 6 PBXs in [pbx] sections: 2 each; one killed:
                its 2 spread over the others; a 4th joins: the assignment is
                sticky (only what must move moves), every PBX has one owner
  restart       a killed instance restarted at once runs commands within 10 s
                (the dead member's session expires after session.timeout.ms,
                6 s by default, not librdkafka's 45 s)
  Redis empty   Redis restarted empty mid-run, then the bridge killed and
                restarted: the state is Kafka's, so no seq starts again and
                no ce_id names two events
"""
import json
import os
import signal
import threading
import time
import uuid

import pytest

from bridgelib import Bridge, Events, Sim, check_sequences, validate_all
from services import RedisServer, tail, wait_for
from test_bridge_commands import FINAL, Commands, record, stats

# read with metrics(raw=True): the series as exported, the own PBX's pbx label kept
OWNED = 'mtcti3_bridge_pbx_owned{{pbx="{}"}}'
CHANGES = 'mtcti3_bridge_pbx_ownership_changes_total{{pbx="{}",change="{}"}}'


def owned(bridge, pbx):
    """1.0 when `bridge` owns `pbx`, 0.0 when not, None when it is not running."""
    if bridge.proc is None or bridge.proc.poll() is not None:
        return None
    try:
        return bridge.metrics(raw=True).get(OWNED.format(pbx))
    except OSError:
        return None


def owner_events(events):
    """The `owner` lifecycle events, in order: (state, instance, warm)."""
    return [(e.value["detail"]["state"], e.value["detail"]["instance"], e.value["detail"].get("warm"))
            for e in events.all if e.topic == "bridge" and e.value["type"] == "owner"]


def instance(bridge):
    return f"{os.uname().nodename}/{bridge.proc.pid}"


def no_id_names_two_bodies(events):
    bodies = {}
    for e in events.all:
        if e.tombstone or e.topic in ("bridge", "live-calls"):
            continue
        assert bodies.setdefault(e.headers["ce_id"], e.raw) == e.raw, f"{e.headers['ce_id']} names two events"


def calls_all_ended(events):
    created = {e.entity for e in events.of("calls", op="c")}
    deleted = {e.entity for e in events.of("calls", op="d")}
    return created and created <= deleted


def quiesce(sim, events, timeout=60):
    sim.ctl("POST", "/traffic", {"calls_per_second": 0})
    time.sleep(1)
    sim.ctl("POST", "/calls/clear")
    events.wait(lambda evs: calls_all_ended(events), timeout, "every call deleted")


def presence_matches_sim(events, sim):
    last = {}
    for e in events.of("presence"):
        last[e.key] = e.after
    for u in sim.model()["users"]:
        assert last[u["guid"]]["dnd"] == u["dnd"] and last[u["guid"]]["extn"] == u["extn"], u


class Streamer(threading.Thread):
    """get_version commands, one every `gap` seconds, until stopped."""

    def __init__(self, commands, tag, gap=0.1):
        super().__init__(daemon=True)
        self.commands, self.tag, self.gap = commands, tag, gap
        self.ids = []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set() and i < 2000:
            cid = f"{self.tag}-{i:04d}"
            self.commands.send({"id": cid, "action": "get_version", "timeout_ms": 4000})
            self.ids.append(cid)
            i += 1
            time.sleep(self.gap)

    def stop(self):
        self.halt.set()
        self.join(10)
        return self.ids


@pytest.fixture
def pair(tmp_path, kafka, redis_server):
    """A simulator under traffic and two instances for it: a owns, b stands by."""
    sim = Sim(tmp_path / "sim", users=8, queues=2, seed=31, calls_per_second=3).start()
    a = Bridge(tmp_path / "a", sim, kafka.bootstrap, redis_url=redis_server.url).start()
    b = Bridge(tmp_path / "b", sim, kafka.bootstrap, redis_url=redis_server.url,
               prefix=a.prefix, pbx_id=a.pbx_id).start()
    events = Events(kafka.bootstrap, a.prefix)
    commands = Commands(kafka.bootstrap, a)
    yield sim, a, b, events, commands
    commands.close()
    events.close()
    for x in (a, b):
        if x.proc is not None and x.proc.poll() is None:
            x.proc.send_signal(signal.SIGCONT)
        x.stop()
    sim.stop()


def check_pair_start(a, b, events):
    pbx = a.pbx_id
    assert owned(a, pbx) == 1.0 and owned(b, pbx) == 0.0
    events.wait(lambda evs: owner_events(events), 20, "a's owner event")
    assert owner_events(events)[0][:2] == ("assigned", instance(a))
    # the standby publishes nothing: one started, one owner
    assert events.lifecycle().count("started") == 1


def check_commands(commands, redis_url, pbx, ids, sim, before):
    from test_bridge_commands import final_outcomes
    final_outcomes(commands, ids, 90)
    executed = stats(sim)["generalcmds"] - before
    statuses = {}
    for cid in ids:
        rec = record(redis_url, pbx, cid)
        assert rec["status"] in FINAL, (cid, rec)
        statuses.setdefault(rec["status"], []).append(cid)
        for r in commands.of(cid):
            got = r["original_status"] if r["status"] == "duplicate" else r["status"]
            assert got == rec["status"], (cid, r, rec)
    # a command in flight at the crash may time out (its fate unknown);
    # every other one ran, and none ran twice
    assert set(statuses) <= {"succeeded", "timeout"}, statuses
    assert len(statuses.get("timeout", [])) <= 5, statuses
    assert len(statuses.get("succeeded", [])) <= executed <= len(ids), (executed, statuses)
    return statuses


def test_owner_killed_standby_takes_over(pair, redis_server):
    sim, a, b, events, commands = pair
    pbx = a.pbx_id
    check_pair_start(a, b, events)
    events.wait(lambda evs: len(events.of("calls", op="c")) >= 5, 30, "traffic flowing")
    before = stats(sim)["generalcmds"]
    streamer = Streamer(commands, "kill")
    streamer.start()
    time.sleep(2)
    a_inst = instance(a)
    a.kill()
    t0 = time.monotonic()
    wait_for(lambda: owned(b, pbx) == 1.0, 30, 0.1, "b owns the PBX")
    took = time.monotonic() - t0
    assert took < 20, took  # session.timeout.ms 6000, then fencing and a diff
    time.sleep(3)
    ids = streamer.stop()
    events.wait(lambda evs: len(owner_events(events)) >= 2, 20, "b's owner event")
    b_inst = instance(b)
    assert [o[:2] for o in owner_events(events)] == [("assigned", a_inst), ("assigned", b_inst)]
    assert owner_events(events)[1][2] is True  # warm: the standby was in sync
    b_life = events.lifecycle()
    assert b_life.count("started") == 2, b_life
    # the standby's connection story is told by it, after its started
    assert b_life[b_life.index("started", 1):][-1] == "owner", b_life
    m = b.metrics(raw=True)
    assert m[CHANGES.format(pbx, "assigned")] == 1 and m[CHANGES.format(pbx, "fenced")] == 0
    quiesce(sim, events, 90)
    events.poll(3)
    validate_all(events.all)
    by_entity = check_sequences(events.all)
    assert len([e for e in by_entity if e.startswith("call:")]) >= 5
    no_id_names_two_bodies(events)
    presence_matches_sim(events, sim)
    statuses = check_commands(commands, redis_server.url, pbx, ids, sim, before)
    assert len(statuses.get("succeeded", [])) >= len(ids) - 5


def test_stalled_owner_fenced_then_standby(pair):
    sim, a, b, events, commands = pair
    pbx = a.pbx_id
    check_pair_start(a, b, events)
    events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
    a_inst, b_inst = instance(a), instance(b)
    a.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: owned(b, pbx) == 1.0, 30, 0.2, "b owns the PBX")
        events.wait(lambda evs: len(owner_events(events)) >= 2, 20, "b's owner event")
        time.sleep(2)  # b publishes; a's Notifies pile up in its socket
    finally:
        a.proc.send_signal(signal.SIGCONT)
    # a wakes up believing it owns the PBX: Kafka refuses its writes (fenced,
    # or its membership gone), and it goes back to standing by
    wait_for(lambda: owned(a, pbx) == 0.0, 30, 0.2, "a hands over")
    m = a.metrics(raw=True)
    assert m[CHANGES.format(pbx, "fenced")] + m[CHANGES.format(pbx, "revoked")] >= 1, m
    a.wait_ready(40)  # a standby in sync again
    assert owned(b, pbx) == 1.0 and owned(a, pbx) == 0.0
    time.sleep(3)
    events.poll(2)
    owners = owner_events(events)
    assert owners[0][:2] == ("assigned", a_inst) and owners[1][:2] == ("assigned", b_inst), owners
    # nothing a said after b took over is committed: no seq twice with two bodies
    validate_all(events.all)
    check_sequences(events.all)
    no_id_names_two_bodies(events)
    log = a.log_path.read_text()
    assert "handing over" in log, tail(a.log_path)
    # and b dies: a, the standby again, takes the PBX back
    b.kill()
    wait_for(lambda: owned(a, pbx) == 1.0, 30, 0.2, "a owns the PBX again")
    events.wait(lambda evs: owner_events(events)[-1][:2] == ("assigned", a_inst), 20, "a's second owner event")
    quiesce(sim, events, 90)
    events.poll(3)
    check_sequences(events.all)
    no_id_names_two_bodies(events)
    presence_matches_sim(events, sim)


def test_sigterm_hands_over_at_once(pair):
    sim, a, b, events, commands = pair
    pbx = a.pbx_id
    check_pair_start(a, b, events)
    events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
    a_inst = instance(a)
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: owned(b, pbx) == 1.0, 30, 0.1, "b owns the PBX")
    took = time.monotonic() - t0
    assert a.proc.wait(20) == 0
    # it left the group: no session timeout to wait for
    assert took < 5.5, took
    events.wait(lambda evs: len(owner_events(events)) >= 2, 20, "b's owner event")
    life = events.lifecycle()
    assert life.index("stopped") < len(life) - 1 - life[::-1].index("owner"), life
    quiesce(sim, events, 90)
    events.poll(3)
    check_sequences(events.all)
    no_id_names_two_bodies(events)
    presence_matches_sim(events, sim)


# ---- several PBXs per process ----

class Multi(Bridge):
    """An instance serving every PBX of a config file's [pbx] sections."""

    def __init__(self, workdir, sims, bootstrap, prefix, redis_url="", group=None):
        super().__init__(workdir, sims[0], bootstrap, redis_url=redis_url, prefix=prefix)
        self.sims = sims
        conf = self.workdir / "bridge.conf"
        lines = [f"topic_prefix = {prefix}", f"group = {group or 'g-' + prefix}", ""]
        for i, s in enumerate(sims):
            lines += [f"[pbx p{i}]", f"ipo_url = {s.url}", f"ipo_ca_file = {s.ready['ca_file']}", ""]
        conf.write_text("\n".join(lines))
        self.extra = [f"--config={conf}"]

    def environment(self):
        env = super().environment()
        for k in ("MTCTI3_IPO_URL", "MTCTI3_IPO_CA_FILE", "MTCTI3_PBX_ID", "MTCTI3_TOPIC_PREFIX"):
            env.pop(k)
        return env


def owners(instances, n):
    """{pbx: [instances owning it]} (running instances only)."""
    out = {f"p{i}": [] for i in range(n)}
    for x in instances:
        if x.proc is None:
            continue
        m = x.metrics(raw=True)
        for p in out:
            if m.get(OWNED.format(p)) == 1.0:
                out[p].append(x)
    return out


def spread(instances, n, counts=None):
    """{pbx: its one owner} once every PBX has exactly one (and, given
    `counts`, the owners' sorted shares are those); else None.  Joins and
    leaves take a cooperative rebalance or two: this is polled."""
    o = owners(instances, n)
    if any(len(v) != 1 for v in o.values()):
        return None
    got = {p: v[0] for p, v in o.items()}
    if counts is not None and sorted(sum(1 for v in got.values() if v is x) for x in instances) != counts:
        return None
    return got


def test_six_pbxs_three_instances(tmp_path, kafka):
    n = 6
    sims = [Sim(tmp_path / f"sim{i}", users=3, queues=1, seed=40 + i).start() for i in range(n)]
    prefix = f"t{uuid.uuid4().hex[:8]}."
    made = []
    try:
        def start(name):
            x = Multi(tmp_path / name, sims, kafka.bootstrap, prefix)
            made.append(x)
            return x.start(wait_resync=False)
        xs = [start(f"i{k}") for k in range(3)]
        got = wait_for(lambda: spread(xs, n, [2, 2, 2]), 60, 0.3, "every PBX owned once, 2 each")
        for x in xs:
            x.wait_ready(60)
        # each PBX publishes on its own topics: <prefix><id>.
        evs = {p: Events(kafka.bootstrap, f"{prefix}{p}.") for p in got}
        try:
            for p, e in evs.items():
                e.wait(lambda all_: any(v.topic == "lines" for v in all_), 30, f"{p} lines")
                lines = {v.entity for v in e.of("lines")}
                assert len(lines) == 3 + 1, p  # a line per user and per queue
                assert {v.headers["ce_source"] for v in e.all if not v.tombstone} == {f"/mtcti3/{p}"}
            # one killed: its two PBXs go to the others, the others keep theirs
            victim = xs[1]
            lost = {p for p, x in got.items() if x is victim}
            victim.kill()
            after = wait_for(lambda: spread([xs[0], xs[2]], n, [3, 3]), 60, 0.3,
                             "the dead instance's PBXs owned again, 3 each")
            for p, x in got.items():
                if p not in lost:
                    assert after[p] is x, f"{p} moved without need"
            # a fourth joins: it gets a share, taken from those with more; nothing else moves
            d = start("i3")
            now = wait_for(lambda: spread([xs[0], xs[2], d], n, [2, 2, 2]), 60, 0.3, "the new instance owns a share")
            moved = {p for p in now if now[p] is not after[p]}
            assert len(moved) == 2 and all(now[p] is d for p in moved), moved
            # every PBX's events still flow, each seq without a gap
            for p, e in evs.items():
                e.poll(2)
                check_sequences(e.all)
                no_id_names_two_bodies(e)
                assert len([o for o in owner_events(e) if o[0] == "assigned"]) >= 1
        finally:
            for e in evs.values():
                e.close()
    finally:
        for x in made:
            x.stop()
        for s in sims:
            s.stop()


def test_two_pbxs_one_instance_metrics_per_pbx(tmp_path, kafka):
    """One instance owning two PBXs: /metrics has each PBX's series apart
    (label pbx), each with its own value; a Notify of one counts for it only."""
    sims = [Sim(tmp_path / "sim0", users=3, queues=1, seed=60).start(),
            Sim(tmp_path / "sim1", users=2, queues=1, seed=61).start()]
    x = Multi(tmp_path / "i0", sims, kafka.bootstrap, f"t{uuid.uuid4().hex[:8]}.")
    try:
        x.start(wait_resync=False)
        x.wait_ready(60)

        def series(name, pbx, **labels):
            return name + "{" + ",".join([f'pbx="{pbx}"'] + [f'{k}="{v}"' for k, v in labels.items()]) + "}"

        m = x.metrics()  # neither is the instance's own pbx_id: both labels kept
        assert m[series("mtcti3_bridge_pbx_connected", "p0")] == 1
        assert m[series("mtcti3_bridge_pbx_connected", "p1")] == 1
        assert "mtcti3_bridge_pbx_connected" not in m
        for p in ("p0", "p1"):
            assert m[series("mtcti3_bridge_pbx_owned", p)] == 1
            assert [m[series("mtcti3_bridge_pbx_link_state", p, state=s)]
                    for s in ("connecting", "resyncing", "synced")] == [0, 0, 1]
            assert m[series("mtcti3_bridge_acks_pending", p)] == 0
        # a line per user and per queue; a subscription for lines, each user and queue, presence, the park server
        assert m[series("mtcti3_bridge_entities", "p0", topic="lines")] == 3 + 1
        assert m[series("mtcti3_bridge_entities", "p1", topic="lines")] == 2 + 1
        assert m[series("mtcti3_bridge_subscriptions", "p0", state="active")] == 1 + 3 + 1 + 1 + 1
        assert m[series("mtcti3_bridge_subscriptions", "p1", state="active")] == 1 + 2 + 1 + 1 + 1
        assert m[series("mtcti3_bridge_notifies_received_total", "p0")] > 0
        assert m[series("mtcti3_bridge_notifies_received_total", "p1")] > 0
        # HELP and TYPE once per family, one sample per PBX
        text = x.http("/metrics")[1].splitlines()
        assert text.count("# TYPE mtcti3_bridge_pbx_connected gauge") == 1
        assert [l for l in text if l.startswith("mtcti3_bridge_pbx_connected")] == [
            'mtcti3_bridge_pbx_connected{pbx="p0"} 1', 'mtcti3_bridge_pbx_connected{pbx="p1"} 1']

        # a Notify of p0's only: p0's counters move, p1's stay
        time.sleep(1.5)
        m0 = x.metrics()
        dnd = sims[0].model_user("2002")["dnd"]
        sims[0].ctl("PATCH", "/users/2002", {"dnd": dnd})  # the PBX notifies, nothing changed
        wait_for(lambda: x.metrics()[series("mtcti3_bridge_notifies_received_total", "p0")]
                 > m0[series("mtcti3_bridge_notifies_received_total", "p0")], 10, what="p0's Notify")
        wait_for(lambda: x.metrics()[series("mtcti3_bridge_acks_pending", "p0")] == 0, 10, what="its ack")
        m1 = x.metrics()
        got = {k: m1[series(k, "p0")] - m0[series(k, "p0")]
               for k in ("mtcti3_bridge_notifies_received_total", "mtcti3_bridge_notify_acks_sent_total")}
        assert got["mtcti3_bridge_notify_acks_sent_total"] == got["mtcti3_bridge_notifies_received_total"] > 0
        for k in ("mtcti3_bridge_notifies_received_total", "mtcti3_bridge_notify_acks_sent_total",
                  "mtcti3_bridge_notify_ack_latency_seconds_count"):
            assert m1[series(k, "p1")] == m0[series(k, "p1")], k
    finally:
        x.stop()
        for s in sims:
            s.stop()


# ---- restarts (issue 10, item 9) ----

def test_restarted_instance_runs_commands_within_10s(tmp_path, kafka, redis_server):
    sim = Sim(tmp_path / "sim", users=3, queues=1).start()
    bridge = Bridge(tmp_path / "bridge", sim, kafka.bootstrap, redis_url=redis_server.url).start()
    commands = Commands(kafka.bootstrap, bridge)
    try:
        assert commands.run({"action": "get_version"})["status"] == "succeeded"
        bridge.kill()
        t0 = time.monotonic()
        bridge.start(wait_resync=False)
        cid = commands.send({"id": "after-restart", "action": "get_version", "timeout_ms": 20000})
        res = commands.wait(cid, timeout=30)
        took = time.monotonic() - t0
        assert res["status"] == "succeeded", res
        assert took <= 10.0, f"first command {took:.1f} s after the restart"
    finally:
        commands.close()
        bridge.stop()
        sim.stop()


def test_redis_emptied_state_stays(tmp_path, kafka, make_events):
    redis = RedisServer(tmp_path / "redis").start()
    sim = Sim(tmp_path / "sim", users=8, queues=2, seed=17, calls_per_second=3).start()
    bridge = Bridge(tmp_path / "bridge", sim, kafka.bootstrap, redis_url=redis.url).start()
    try:
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 4, 30, "traffic flowing")
        redis.stop()
        redis.start()  # no persistence: it comes back empty
        assert redis.client().dbsize() == 0
        sim.ctl("PATCH", "/users/2003", {"dnd": True})
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 8, 30, "traffic after Redis came back")
        bridge.kill()
        time.sleep(2)
        bridge.start()
        events.wait(lambda evs: events.lifecycle().count("started") == 2, 40, "restarted")
        sim.ctl("PATCH", "/users/2003", {"dnd": False})
        quiesce(sim, events, 90)
        events.poll(3)
        validate_all(events.all)
        check_sequences(events.all)
        no_id_names_two_bodies(events)
        # nothing announced again from seq 1: each user's, queue's and line's 'r' is its first event only
        firsts = [e for e in events.all if not e.tombstone and e.topic in ("presence", "queues", "lines")
                  and e.value["op"] == "r"]
        assert firsts and all(e.value["seq"] == 1 for e in firsts)
        assert len(firsts) == len({e.entity for e in firsts}), "an entity announced twice"
        assert events.started()[1]["detail"]["state_from"] == "topics"
        presence_matches_sim(events, sim)
    finally:
        bridge.stop()
        sim.stop()
        redis.stop()
