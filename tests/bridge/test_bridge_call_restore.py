"""Calls restored from <prefix>live-calls (state/state_reader.c,
state/restore.c): the compacted topic holds the last event of every call leg
in progress and a tombstone for each that ended; a restarted bridge reads it
back whole, and the PBX's fresh snapshot is diffed against it.

  restart (SIGTERM, SIGKILL)  a queue call (two legs sharing the gcid) ends
                              while the bridge is down: each leg gets exactly
                              one 'd' continuing its seq, and its tombstone
                              on live-calls; a direct call still up is not
                              announced again and its next change continues
                              its seq; a call deleted before the stop stays
                              deleted; the started event counts the calls
  live-calls                  what a consumer rebuilds from live-calls read
                              from the start is exactly the legs in progress
  old setting                 calls_restore_window is gone: one line, exit 2
"""
import subprocess
import time

import pytest

from bridgelib import check_live_calls, check_sequences, find_binary, validate_all
from services import wait_for

# sim fixture: 5 users, 2 queues -> 7 lines, 5 users, 2 queues
RESTORED_WITHOUT_CALLS = 7 + 5 + 2


def since(events, ts_ms, **kw):
    """Events of this selection the bridge produced at or after ts_ms (wall clock)."""
    return [e for e in events.of(**kw) if e.value["ts_ms"] >= ts_ms]


def direct_call(sim, events, extn):
    """A trunk call to `extn`, answered; (entity, its events so far)."""
    gcid = sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": extn})["gcid"]
    name = f"call:{sim.user_guid(extn)}:{gcid}"
    entity = events.wait(lambda evs: events.of("calls", entity=name, op="c"), 15, f"call to {extn} created")[0].entity
    sim.ctl("POST", f"/phone/{extn}/answer", {})
    events.wait(lambda evs: events.of("calls", entity=entity)[-1].after["state"] == "CONNECTED", 15,
                f"call to {extn} connected")
    return gcid, entity


def queue_call(sim, events, extn):
    """A trunk call to the queue `extn`, answered by the member it rings: (gcid, [leg entities])."""
    gcid = sim.ctl("POST", "/trunk/call", {"from": "01707654321", "to": extn})["gcid"]
    ringing = events.wait(lambda evs: [e for e in events.of("calls", gcid=gcid, op="c")
                                       if e.source["line_kind"] == "user"], 15, "a member rung")[0]
    sim.ctl("POST", f"/phone/{ringing.source['line_extn']}/answer", {"callid": ringing.after["callid"]})

    def legs_connected():  # members rung but not answering have their 'd' by then
        last = [events.of("calls", entity=leg)[-1] for leg in {e.entity for e in events.of("calls", gcid=gcid)}]
        live = [e for e in last if e.op != "d"]
        return len(live) == 2 and all(e.after["state"] == "CONNECTED" for e in live) and [e.entity for e in live]
    return gcid, sorted(events.wait(lambda evs: legs_connected(), 15, "queue call connected on both legs"))


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_restart_without_redis_restores_calls(sim, make_bridge, make_events, stop):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    kept_gcid, kept = direct_call(sim, events, "2002")
    ended_gcid, ended = queue_call(sim, events, "5001")
    gone_gcid, gone = direct_call(sim, events, "2004")
    sim.ctl("POST", "/trunk/hangup", {"gcid": gone_gcid})
    events.wait(lambda evs: events.of("calls", entity=gone, op="d"), 15, "call deleted before the stop")
    assert len(events.started()) == 1 and events.started()[0]["detail"]["state_from"] == "topics"
    events.poll(1)  # every event of the first run is in Kafka: the calls are settled
    if stop == "sigterm":
        assert bridge.stop() == 0
    else:
        bridge.kill()
    last = {entity: events.of("calls", entity=entity)[-1] for entity in [kept, *ended, gone]}
    assert last[gone].op == "d" and all(last[e].op in ("c", "u") for e in [kept, *ended])

    sim.ctl("POST", "/trunk/hangup", {"gcid": ended_gcid})  # ends while the bridge is down
    restart_ms = int(time.time() * 1000)
    bridge.start()
    wait_for(lambda: f"restored {RESTORED_WITHOUT_CALLS + 3} entities (3 calls)" in bridge.log_path.read_text(), 20,
             what="the calls restored from live-calls")
    events.wait(lambda evs: all(since(events, restart_ms, topic="calls", entity=e) for e in ended), 20,
                "the ended call's legs deleted")
    events.wait(lambda evs: len(events.started()) == 2 and events.lifecycle().count("resync_finished") == 2, 20)
    detail = events.started()[1]["detail"]
    assert detail == {"restored_entities": RESTORED_WITHOUT_CALLS + 3, "restored_calls": 3,
                      "replayed_events": 0, "state_from": "topics"}
    events.poll(1.5)  # anything more the resync would have said

    for leg in ended:  # exactly one 'd' each, continuing the seq, before = the last state
        after = since(events, restart_ms, topic="calls", entity=leg)
        assert [(e.op, e.seq) for e in after] == [("d", last[leg].seq + 1)]
        d = after[0]
        assert d.before == last[leg].after and d.after is None and d.key == leg[len("call:"):]
        assert d.calllost == {"callid": last[leg].after["callid"], "referencecallid": 0, "reason": 0,
                              "thisenddropped": False, "synthetic": True,
                              "description": "ended while the bridge was not connected"}
    assert {e.source["line_kind"] for e in since(events, restart_ms, topic="calls", gcid=ended_gcid)} == \
        {"queue", "user"}
    # the call still up: unchanged, so nothing; a call deleted before the stop: nothing
    assert since(events, restart_ms, topic="calls", entity=kept) == []
    assert since(events, restart_ms, topic="calls", entity=gone) == []
    assert since(events, restart_ms, topic="calls", op="c") == []
    wait_for(lambda: bridge.metrics()['mtcti3_bridge_entities{topic="calls"}'] == 1, 5, what="1 call known")

    sim.ctl("POST", "/phone/2002/hold", {})
    events.wait(lambda evs: since(events, restart_ms, topic="calls", entity=kept), 15, "the kept call held")
    events.poll(1)
    upd = since(events, restart_ms, topic="calls", entity=kept)
    assert [(e.op, e.seq) for e in upd] == [("u", last[kept].seq + 1)]
    assert upd[0].before == last[kept].after and upd[0].after["state"] == "ONHOLD"
    assert upd[0].after["callid"] == last[kept].after["callid"] and upd[0].key == last[kept].key
    assert "state" in upd[0].changed
    validate_all(events.all)
    check_sequences(events.all)
    live = check_live_calls(events.all)
    # a consumer reading live-calls from the start keeps exactly the call still up
    assert sorted(k for k, e in live.items() if not e.tombstone) == [upd[0].key]
    assert live[upd[0].key].raw == upd[0].raw


def test_calls_restore_window_is_gone():
    """The calls are restored from live-calls whole: the window setting of
    the calls topic's read-back is no more, and naming it is an error."""
    exe = find_binary("mtcti3-bridge", "MTCTI3_BRIDGE")
    env = {"PATH": "/usr/bin:/bin", "MTCTI3_IPO_URL": "wss://127.0.0.1:9/", "MTCTI3_IPO_USER": "u",
           "MTCTI3_IPO_PASSWORD": "p", "MTCTI3_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    r = subprocess.run([exe, "--check-config", "--calls_restore_window=0"], env=env, capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == ["mtcti3-bridge: calls_restore_window: unknown setting (see --help)"]
