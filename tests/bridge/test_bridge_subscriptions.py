"""Subscription management against ipo-sim.

  pacing     with subscribe_window=2, never more than 2 requests wait for an
             answer, and every line still ends up subscribed
  retries    requests the PBX does not answer time out, are counted and
             retried with backoff until they succeed
  refresh    subscriptions are refreshed before their timeout
"""
import time

from bridgelib import Sim
from services import wait_for


def test_pacing_window(tmp_path, make_bridge, make_events):
    sim = Sim(tmp_path / "sim", users=40, queues=4).start()
    try:
        bridge = make_bridge(sim, extra=["--subscribe_window=2"]).start(wait_resync=False)
        bridge.wait_ready()
        assert bridge.metrics()["mtcti3_bridge_subscribe_requests_inflight_peak"] == 2
        assert bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}'] == 1 + 40 + 4 + 1 + 1
    finally:
        sim.stop()


def test_unanswered_requests_are_retried(sim, make_bridge, make_events):
    bridge = make_bridge(sim, extra=["--request_timeout_ms=1000"]).start()
    events = make_events(bridge)
    sim.ctl("POST", "/requests/pause", {"on": True})
    try:
        added = sim.ctl("POST", "/users", {"extn": "2201", "name": "Late"})
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_request_errors_total"] >= 2, 15,
                 what="timeouts counted, and retried")
        assert bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}'] == 1 + 5 + 2 + 1 + 1
    finally:
        sim.ctl("POST", "/requests/pause", {"on": False})
    wait_for(lambda: bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}'] == 1 + 6 + 2 + 1 + 1,
             30, what="the retried subscription active")
    events.wait(lambda evs: events.of("presence", entity=f"user:{added['guid']}"), 15, "the new user's state")
    assert "no RequestResponse in time" in bridge.log_path.read_text()


def test_refresh_before_timeout(sim, make_bridge):
    bridge = make_bridge(sim, extra=["--subscribe_timeout=60"]).start()
    # refreshed at 80% of 60 s: 48 s; the sim ends subscriptions not refreshed in time
    time.sleep(55)
    m = bridge.metrics()
    assert m['mtcti3_bridge_subscriptions{state="active"}'] == 1 + 5 + 2 + 1 + 1
    assert m["mtcti3_bridge_subscriptions_terminated_total"] == 0
    assert m["mtcti3_bridge_request_errors_total"] == 0
    assert m["mtcti3_bridge_pbx_connected"] == 1
