"""<prefix>queue-stats from the real bridge: a scripted call sequence driven
through ipo-sim's control API, exact figures read back from Kafka.

  scripted sequence  queue 5001 with one agent free, the other members on DND,
                     service level 3 s, window 600 s, time zone Europe/Berlin:
                     call 1 queues and its caller hangs up (abandoned); call 2
                     is answered at once (in service level); call 3 waits more
                     than 3 s behind call 2 and is answered (outside)
  every record       valid against schemas/event-queue-stats.schema.json, seq
                     one by one, CloudEvents headers
  restart            the bridge stops and starts again: no new record (the
                     figures come back from the topic as they were), and the
                     next call continues the counts and the seq
"""
import datetime
import json
import pathlib
import time
import zoneinfo

import jsonschema

from wblib import queue_setup

TOP = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMA = json.loads((TOP / "schemas" / "event-queue-stats.schema.json").read_text())
SL, WINDOW, TZ = 3, 600, "Europe/Berlin"
SETTINGS = [f"--queue_stats_service_level={SL}", f"--queue_stats_window={WINDOW}", f"--queue_stats_timezone={TZ}"]


def figures(rec, period):
    return {k: rec[period][k] for k in ("offered", "answered", "answered_in_sl", "abandoned", "voicemail",
                                         "service_level")}


def call(sim, to="5001"):
    return sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": to})["gcid"]


def midnight_ms(now_ms):
    tz = zoneinfo.ZoneInfo(TZ)
    local = datetime.datetime.fromtimestamp(now_ms / 1000, tz)
    return int(datetime.datetime(local.year, local.month, local.day, tzinfo=tz).timestamp() * 1000)


def test_scripted_calls_exact_figures_and_restart(sim, make_bridge, make_stats):
    guid, members, agent = queue_setup(sim)
    bridge = make_bridge(sim, extra=SETTINGS).start()
    stats = make_stats(bridge)
    others = len(members) - 1
    stats.wait(guid, lambda r: r["agents"]["dnd"] == others and r["agents"]["available"] == 1,
               what="agents settled")

    # call 1: queues (nobody free but the agent, whom it rings), then the caller hangs up
    sim.ctl("PATCH", f"/users/{agent}", {"dnd": True})
    stats.wait(guid, lambda r: r["agents"]["available"] == 0, what="agent on DND")
    c1 = call(sim)
    rec = stats.wait(guid, lambda r: r["waiting"] == 1, what="call 1 waiting")
    assert figures(rec, "window") == {"offered": 1, "answered": 0, "answered_in_sl": 0, "abandoned": 0,
                                      "voicemail": 0, "service_level": None}
    assert rec["oldest_waiting_since_ms"] is not None
    sim.ctl("POST", "/trunk/hangup", {"gcid": c1})
    rec = stats.wait(guid, lambda r: r["waiting"] == 0 and r["window"]["abandoned"] == 1, what="call 1 abandoned")
    assert rec["oldest_waiting_since_ms"] is None

    # call 2: the agent comes back and answers at once
    c2 = call(sim)
    stats.wait(guid, lambda r: r["waiting"] == 1, what="call 2 waiting")
    sim.ctl("PATCH", f"/users/{agent}", {"dnd": False})
    stats.wait(guid, lambda r: r["agents"]["ringing"] == 1, what="agent ringing")
    sim.ctl("POST", f"/phone/{agent}/answer", {})
    rec = stats.wait(guid, lambda r: r["window"]["answered"] == 1, what="call 2 answered")
    assert rec["waiting"] == 0
    assert rec["window"]["answered_in_sl"] == 1
    assert rec["agents"]["busy"] == 1
    assert next(a for a in rec["agent_list"] if a["extn"] == agent)["state"] == "busy"

    # call 3: waits behind call 2 for more than the service level, then the agent takes it
    call(sim)
    stats.wait(guid, lambda r: r["waiting"] == 1, what="call 3 waiting")
    time.sleep(SL + 1.5)
    sim.ctl("POST", "/trunk/hangup", {"gcid": c2})
    stats.wait(guid, lambda r: r["agents"]["ringing"] == 1, what="agent ringing for call 3")
    sim.ctl("POST", f"/phone/{agent}/answer", {})
    rec = stats.wait(guid, lambda r: r["window"]["answered"] == 2, what="call 3 answered")
    sim.ctl("POST", "/calls/clear", {})
    rec = stats.wait(guid, lambda r: r["agents"]["busy"] == 0 and r["waiting"] == 0, what="calls cleared")

    want = {"offered": 3, "answered": 2, "answered_in_sl": 1, "abandoned": 1, "voicemail": 0,
            "service_level": 0.3333}
    assert figures(rec, "window") == want
    assert rec["window"]["seconds"] == WINDOW
    assert figures(rec, "today") == want
    assert rec["today"]["timezone"] == TZ
    assert rec["today"]["since_ms"] == midnight_ms(rec["ts_ms"])
    assert rec["service_level_seconds"] == SL
    assert rec["oldest_waiting_since_ms"] is None
    assert rec["queue"]["extn"] == "5001" and rec["queue"]["guid"] == guid
    assert rec["pbx"] == bridge.pbx_id
    assert rec["agents"] == {"members": len(members), "logged_in": len(members), "available": 1, "ringing": 0,
                             "busy": 0, "dnd": others, "absent": 0, "disabled": 0}
    assert [a["extn"] for a in rec["agent_list"]] == members
    assert rec["restore"]["calls"] == []
    assert sum(b[1] for b in rec["restore"]["buckets"]) == 3

    # every record: the schema, seq one by one per queue, the headers
    validator = jsonschema.Draft202012Validator(SCHEMA)
    by_key = {}
    for key, value, headers in stats.all:
        assert value is not None
        validator.validate(value)
        by_key.setdefault(key, []).append(value["seq"])
        assert headers["ce_type"] == "mtcti3.queue_stats.updated"
        assert headers["ce_subject"] == f"queue-stats:{key}"
        assert headers["ce_id"] == f"{bridge.pbx_id}/queue-stats:{key}/{value['seq']}"
        assert headers["ce_source"] == f"/mtcti3/{bridge.pbx_id}"
    for key, seqs in by_key.items():
        assert seqs == list(range(1, len(seqs) + 1)), key

    # restart: the figures come back from the topic as they were, so no record at all
    last_seq = rec["seq"]
    count = len(stats.records(guid))
    assert bridge.stop() == 0
    bridge.start()
    time.sleep(2)
    assert len(stats.records(guid)) == count, stats.records(guid)[count:]
    assert "queue statistics of 2 queue(s) restored" in bridge.log_path.read_text()

    # and the next call goes on from there
    c4 = call(sim)
    stats.wait(guid, lambda r: r["waiting"] == 1, what="call 4 ringing the agent")
    sim.ctl("POST", "/trunk/hangup", {"gcid": c4})
    rec = stats.wait(guid, lambda r: r["window"]["offered"] == 4 and r["waiting"] == 0, what="call 4 ended")
    assert figures(rec, "window") == {"offered": 4, "answered": 2, "answered_in_sl": 1, "abandoned": 2,
                                      "voicemail": 0, "service_level": 0.25}
    assert figures(rec, "today") == figures(rec, "window")
    assert rec["seq"] > last_seq
    seqs = [r["seq"] for r in stats.records(guid)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_bad_timezone_stops_the_bridge(sim, make_bridge):
    bridge = make_bridge(sim, extra=["--queue_stats_timezone=Mars/Olympus_Mons"])
    import subprocess
    out = subprocess.run(bridge.command(), env=bridge.environment(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        'mtcti3-bridge: queue_stats_timezone: "Mars/Olympus_Mons" is not a known time zone (no such zoneinfo file)']
