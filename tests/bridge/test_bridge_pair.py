"""The bridge live-live with a resilient pair (issue 14.2): one ipo-sim
process serving a primary and a secondary (--secondary, one model), the
bridge with ipo_url = the primary and ipo_secondary_url = the secondary.

  both up           one websocket to each, subscriptions on both; users and
                    presence published once (from the primary)
  a queued call     waits on the primary's queue; the primary fails: the call
                    moves to the secondary, its leg goes on (same key, seq
                    continuing), it is answered there
  the outage        a DND set (by a command, run on the secondary) is
                    published exactly once; system_failover on the bridge topic
  primary back      system_failback; nothing published that did not change
  throughout        commands before, during and after; every event valid, seq
                    continuous per entity, no ce_id twice
"""
import json
import uuid

from bridgelib import Sim, check_live_calls, check_sequences, validate_all
from services import wait_for
from test_bridge_failback import Results, presence, settle


def lifecycle(events):
    return [(e.value["type"], e.value["detail"]) for e in events.all if e.topic == "bridge"]


def types(events):
    return [t for t, _ in lifecycle(events)]


def queue_legs(events, gcid):
    """The events of the call's legs on queue lines, by leg key."""
    legs = {}
    for e in events.of("calls", gcid=gcid):
        row = e.value["after"] or e.value["before"]
        if row["line_kind"] == "queue":
            legs.setdefault(e.key, []).append(e.value)
    return legs


def run_on_queue(results, queue, callid, action, args):
    """A call command on a queue line (Results.run targets users); its result."""
    cid = f"pair-{uuid.uuid4().hex[:10]}"
    cmd = {"id": cid, "action": action, "target": {"queue": queue}, "call": {"callid": callid}, "args": args}
    results.producer.produce(results.topic, key=cid, value=json.dumps(cmd))
    results.producer.flush(10)

    def result():
        for m in results.consumer.consume(100, 0.3):
            if not m.error():
                results.got[m.key().decode()] = json.loads(m.value())
        return results.got.get(cid)
    return wait_for(result, 30, 0, f"the result of {action} on {queue}")


def test_pair_live_live_failover_and_failback(tmp_path, kafka, redis_server, make_bridge, make_events):
    sim = Sim(tmp_path / "sim", users=9, queues=3, seed=5,
              extra=("--secondary", "127.0.0.1:0", "--ring-ms", "300")).start()
    results = None
    try:
        systems = {s["name"]: s for s in sim.ready["systems"]}
        primary, secondary = systems["primary"]["url"], systems["secondary"]["url"]
        model = sim.model()
        guid = {u["extn"]: u["guid"] for u in model["users"]}
        queue = model["queues"][0]
        members = [m["extn"] for m in queue["members"]]
        others = [x for x in sorted(guid) if x not in members]
        assert len(others) >= 3, (members, others)
        for m in members:  # the queue's calls wait QUEUEING
            sim.ctl("PATCH", f"/users/{m}", {"dnd": True})

        bridge = make_bridge(sim, redis_url=redis_server.url,
                             env={"MTCTI3_IPO_SECONDARY_URL": secondary}).start()
        events = make_events(bridge)
        results = Results(kafka.bootstrap, bridge)
        snapshot = settle(events)
        pbx = bridge.pbx_id

        def metric(name, system):
            return bridge.metrics(raw=True)[f'{name}{{pbx="{pbx}",system="{system}"}}']
        assert [metric("mtcti3_bridge_pbx_system_up", s) for s in ("primary", "secondary")] == [1, 1]
        assert [metric("mtcti3_bridge_pbx_system_active", s) for s in ("primary", "secondary")] == [1, 0]
        # one of each user, though both systems report them all
        users = [e for e in events.all[:snapshot] if e.topic == "presence" and e.entity.startswith("user:")]
        assert sorted(e.entity for e in users) == sorted(f"user:{g}" for g in guid.values())
        assert {d.get("system") for t, d in lifecycle(events) if t == "connected"} == {"primary", "secondary"}

        # before: a command, on the primary
        a, b, c = others[:3]
        assert results.run("set_dnd", a, {"on": True})["status"] == "succeeded"
        events.wait(lambda evs: presence(events, guid[a], snapshot), 20, f"{a}'s DND")

        # a call queueing on the primary
        gcid = sim.ctl("POST", "/trunk/call", {"from": "01707100123", "to": queue["extn"], "name": "Waits"})["gcid"]
        events.wait(lambda evs: queue_legs(events, gcid), 20, "the queued call")
        [(key, before)] = queue_legs(events, gcid).items()
        assert before[0]["op"] == "c" and before[0]["after"]["state"] == "QUEUEING"
        settle(events)

        # the primary fails: the call moves to the secondary's queue
        out = sim.ctl("POST", "/systems/primary/fail")
        assert (out["queues_on"], out["moved"]) == ("secondary", 1)
        events.wait(lambda evs: "system_failover" in types(events), 20, "the failover")
        [failover] = [d for t, d in lifecycle(events) if t == "system_failover"]
        assert (failover["active"], failover["from"], failover["primary_up"], failover["secondary_up"]) == \
            ("secondary", "primary", False, True)
        at_failover = settle(events)
        assert list(queue_legs(events, gcid)) == [key]  # the same leg
        assert [metric("mtcti3_bridge_pbx_system_up", s) for s in ("primary", "secondary")] == [0, 1]
        assert [metric("mtcti3_bridge_pbx_system_active", s) for s in ("primary", "secondary")] == [0, 1]

        # during: a command runs on the secondary; its DND is published once
        assert results.run("set_dnd", b, {"on": True})["status"] == "succeeded"
        events.wait(lambda evs: presence(events, guid[b], snapshot), 20, f"{b}'s DND")
        # the call is answered on the secondary: an agent back from DND answers it
        sim.ctl("PATCH", f"/users/{members[0]}", {"dnd": False})
        wait_for(lambda: (sim.ctl("POST", f"/phone/{members[0]}/answer", {}, ok=None) or {}).get("code") == 0,
                 20, 0.3, "the agent answering")
        events.wait(lambda evs: queue_legs(events, gcid)[key][-1]["after"] is not None
                    and queue_legs(events, gcid)[key][-1]["after"]["state"] == "CONNECTED", 20,
                    "the queue leg answered")
        on_secondary = settle(events)

        # the primary comes back: fail-back, once it is in sync
        sim.ctl("POST", "/systems/primary/restore")
        events.wait(lambda evs: "system_failback" in types(events), 30, "the fail-back")
        [failback] = [d for t, d in lifecycle(events) if t == "system_failback"]
        assert (failback["active"], failback["from"], failback["primary_up"]) == ("primary", "secondary", True)
        after_failback = settle(events, quiet=2.0)
        assert [metric("mtcti3_bridge_pbx_system_up", s) for s in ("primary", "secondary")] == [1, 1]
        assert [metric("mtcti3_bridge_pbx_system_active", s) for s in ("primary", "secondary")] == [1, 0]
        m = bridge.metrics(raw=True)
        assert [m[f'mtcti3_bridge_pbx_system_switches_total{{pbx="{pbx}",switch="{k}"}}']
                for k in ("failover", "failback")] == [1, 1]
        # nothing changed in the model across the fail-back: nothing but lifecycle events published
        spurious = [e for e in events.all[on_secondary:after_failback] if e.topic != "bridge"]
        assert spurious == [], spurious

        # after: a command on the primary; one on the answered queue call, which only the secondary follows
        assert results.run("set_dnd", c, {"on": True})["status"] == "succeeded"
        events.wait(lambda evs: presence(events, guid[c], snapshot), 20, f"{c}'s DND")
        callid = queue_legs(events, gcid)[key][-1]["after"]["callid"]
        res = run_on_queue(results, queue["extn"], callid, "set_tag", {"tag": "after-failback"})
        assert res["status"] == "succeeded", res
        events.wait(lambda evs: queue_legs(events, gcid)[key][-1]["after"]["tag"] == "after-failback", 20,
                    "the tag on the queue leg")
        sim.ctl("POST", "/trunk/hangup", {"gcid": gcid})
        events.wait(lambda evs: queue_legs(events, gcid)[key][-1]["op"] == "d", 20, "the call's end")
        settle(events)

        # each DND published exactly once, whichever system the command ran on
        for x in (a, b, c):
            assert [(ch, dnd) for ch, dnd, _ in presence(events, guid[x], snapshot)] == [(["dnd"], True)], x
        # the queue leg: one key from start to end, seq continuous, moved (new callid) without a gap
        leg = queue_legs(events, gcid)[key]
        assert [v["seq"] for v in leg] == list(range(1, len(leg) + 1))
        assert leg[0]["op"] == "c" and leg[-1]["op"] == "d"
        assert all(v["op"] == "u" for v in leg[1:-1])
        states = [v["after"]["state"] for v in leg[:-1]]
        assert states[0] == "QUEUEING" and states[-1] == "CONNECTED" and "QUEUEING" in states
        callids = [v["after"]["callid"] for v in leg[:-1]]
        assert len(set(callids)) == 2, callids  # the primary's, then the secondary's appearance
        assert list(queue_legs(events, gcid)) == [key]
        assert events.all[at_failover:on_secondary] and all(
            e.topic != "lines" for e in events.all[snapshot:])

        life = types(events)
        assert life.count("system_failover") == 1 and life.count("system_failback") == 1
        validate_all(events.all)
        check_sequences(events.all)
        check_live_calls(events.all)
        ce_ids = [e.headers["ce_id"] for e in events.all if not e.tombstone and e.topic != "live-calls"]
        assert len(ce_ids) == len(set(ce_ids)), "an event published twice"
        print(json.dumps([(t, d) for t, d in lifecycle(events)], indent=None)[:3000])
    finally:
        if results:
            results.close()
        sim.stop()


def test_pair_config_errors(tmp_path):
    """A pair takes one URL each: a list in ipo_url is a config error (one line, exit 2)."""
    import subprocess
    from bridgelib import find_binary
    env = {"MTCTI3_IPO_URL": "wss://a:1/x,wss://b:1/x", "MTCTI3_IPO_SECONDARY_URL": "wss://c:1/x",
           "MTCTI3_IPO_USER": "u", "MTCTI3_IPO_PASSWORD": "p", "MTCTI3_KAFKA_BOOTSTRAP": "127.0.0.1:1",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([find_binary("mtcti3-bridge", "MTCTI3_BRIDGE")], env=env, capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "mtcti3-bridge: ipo_url: with ipo_secondary_url set (a resilient pair), ipo_url is the primary's one URL "
        "and ipo_secondary_url the secondary's one URL (got 2 and 1)"]
    env.update(MTCTI3_IPO_URL="wss://a:1/x", MTCTI3_IPO_SECONDARY_URL="https://c/x")
    out = subprocess.run([find_binary("mtcti3-bridge", "MTCTI3_BRIDGE")], env=env, capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "mtcti3-bridge: ipo_secondary_url: \"https://c/x\" is not a ws:// or wss:// URL with a host"]
