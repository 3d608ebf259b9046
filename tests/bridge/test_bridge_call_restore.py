"""Calls restored from <prefix>calls by a bridge without Redis
(kafka_restore.c): the last calls_restore_window seconds of the topic are read
back at start, and the PBX's fresh snapshot is diffed against them.

  restart (SIGTERM, SIGKILL)  a queue call (two legs sharing the gcid key)
                              ends while the bridge is down: each leg gets
                              exactly one 'd' continuing its seq; a direct
                              call still up is not announced again and its
                              next change continues its seq; a call deleted
                              before the stop stays deleted; the started
                              event counts the calls among restored_entities
  window 0, window too short  no call restored: the call still up is
                              created again (seq 1), the ended one never
                              gets its 'd'
  bad window                  a one-line error, exit status 2
"""
import subprocess
import time

import pytest

from bridgelib import check_sequences, find_binary, validate_all
from services import wait_for

# sim fixture: 5 users, 2 queues -> 7 lines, 5 users, 2 queues
RESTORED_WITHOUT_CALLS = 7 + 5 + 2


def since(events, ts_ms, **kw):
    """Events of this selection the bridge produced at or after ts_ms (wall clock)."""
    return [e for e in events.of(**kw) if e.value["ts_ms"] >= ts_ms]


def direct_call(sim, events, extn):
    """A trunk call to `extn`, answered; (entity, its events so far)."""
    gcid = sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": extn})["gcid"]
    entity = f"call:{sim.user_guid(extn)}:{gcid}"
    events.wait(lambda evs: events.of("calls", entity=entity, op="c"), 15, f"call to {extn} created")
    sim.ctl("POST", f"/phone/{extn}/answer", {})
    events.wait(lambda evs: events.of("calls", entity=entity)[-1].after["state"] == "CONNECTED", 15,
                f"call to {extn} connected")
    return gcid, entity


def queue_call(sim, events, extn):
    """A trunk call to the queue `extn`, answered by the member it rings: (gcid, [leg entities])."""
    gcid = sim.ctl("POST", "/trunk/call", {"from": "01707654321", "to": extn})["gcid"]
    ringing = events.wait(lambda evs: [e for e in events.of("calls", key=gcid, op="c")
                                       if e.source["line_kind"] == "user"], 15, "a member rung")[0]
    sim.ctl("POST", f"/phone/{ringing.source['line_extn']}/answer", {"callid": ringing.after["callid"]})

    def legs_connected():  # members rung but not answering have their 'd' by then
        last = [events.of("calls", entity=leg)[-1] for leg in {e.entity for e in events.of("calls", key=gcid)}]
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
    assert f"3 call(s) restored from the last 86400 s of {bridge.prefix}calls" in bridge.log_path.read_text()
    events.wait(lambda evs: all(since(events, restart_ms, topic="calls", entity=e) for e in ended), 20,
                "the ended call's legs deleted")
    events.wait(lambda evs: len(events.started()) == 2 and events.lifecycle().count("resync_finished") == 2, 20)
    detail = events.started()[1]["detail"]
    assert detail == {"restored_entities": RESTORED_WITHOUT_CALLS + 3, "replayed_events": 0,
                      "state_from": "topics"}
    events.poll(1.5)  # anything more the resync would have said

    for leg in ended:  # exactly one 'd' each, continuing the seq, before = the last state
        after = since(events, restart_ms, topic="calls", entity=leg)
        assert [(e.op, e.seq) for e in after] == [("d", last[leg].seq + 1)]
        d = after[0]
        assert d.before == last[leg].after and d.after is None and d.key == ended_gcid
        assert d.calllost == {"callid": last[leg].after["callid"], "referencecallid": 0, "reason": 0,
                              "thisenddropped": False, "synthetic": True,
                              "description": "ended while the bridge was not connected"}
    assert {e.source["line_kind"] for e in since(events, restart_ms, topic="calls", key=ended_gcid)} == \
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
    assert upd[0].after["callid"] == last[kept].after["callid"] and upd[0].key == kept_gcid
    assert "state" in upd[0].changed
    validate_all(events.all)
    check_sequences(events.all)


@pytest.mark.parametrize("window", ["0", "1"])
def test_calls_restore_window_limits_what_is_restored(sim, make_bridge, make_events, window):
    """calls_restore_window=0 reads no call back; a window shorter than the
    calls' age finds none of their events: either way the bridge knows no call
    at start, as before calls were restored."""
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    kept_gcid, kept = direct_call(sim, events, "2002")
    ended_gcid, ended = direct_call(sim, events, "2003")
    events.poll(1)
    assert bridge.stop() == 0
    last_ms = max(e.value["ts_ms"] for e in events.of("calls"))
    sim.ctl("POST", "/trunk/hangup", {"gcid": ended_gcid})
    if window == "1":  # every event of the calls older than the window
        wait_for(lambda: time.time() * 1000 > last_ms + 2500, 10, what="the calls' events 2.5 s old")
    bridge.extra.append(f"--calls_restore_window={window}")
    restart_ms = int(time.time() * 1000)
    bridge.start()
    log = bridge.log_path.read_text().split("==== start 1")[1]
    assert ("call(s) restored" not in log) if window == "0" else ("0 call(s) restored from the last 1 s" in log)
    events.wait(lambda evs: len(events.started()) == 2 and events.lifecycle().count("resync_finished") == 2, 20)
    events.wait(lambda evs: since(events, restart_ms, topic="calls", entity=kept), 15, "the kept call announced")
    events.poll(2.5)  # resync_grace_ms (1 s) and more: a 'd' would have come
    assert events.started()[1]["detail"]["restored_entities"] == RESTORED_WITHOUT_CALLS
    again = since(events, restart_ms, topic="calls", entity=kept)
    assert [(e.op, e.seq) for e in again] == [("c", 1)]
    assert again[0].after["state"] == "CONNECTED"
    assert since(events, restart_ms, topic="calls", entity=ended) == []
    validate_all(events.all)


def test_calls_restore_window_bad_value_exits_2():
    exe = find_binary("mtcti3-bridge", "MTCTI3_BRIDGE")
    env = {"PATH": "/usr/bin:/bin", "MTCTI3_IPO_URL": "wss://127.0.0.1:9/", "MTCTI3_IPO_USER": "u",
           "MTCTI3_IPO_PASSWORD": "p", "MTCTI3_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    cases = [
        (["--calls_restore_window=-1"], {},
         "mtcti3-bridge: calls_restore_window: -1 is out of range [0, 2592000]"),
        ([], {"MTCTI3_CALLS_RESTORE_WINDOW": "1d"},
         'mtcti3-bridge: calls_restore_window: "1d" is not an integer'),
        (["--calls_restore_window", "2592001"], {},
         "mtcti3-bridge: calls_restore_window: 2592001 is out of range [0, 2592000]"),
    ]
    for args, extra, want in cases:
        r = subprocess.run([exe, *args, "--http_listen="], env={**env, **extra}, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.splitlines() == [want]
    ok = subprocess.run([exe, "--check-config", "--calls_restore_window=0"], env=env, capture_output=True,
                        text=True, timeout=20)
    assert ok.returncode == 0, ok.stderr
