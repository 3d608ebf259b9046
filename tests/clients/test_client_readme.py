"""The example of clients/python/README.md runs as written against a real
bridge (its first python block, with the bridge's bootstrap and prefix in
the environment), and prints what the README says it prints: a command's
result, a refusal, every user's presence, and the call legs in progress
with their leg keys."""
import os
import re
import subprocess
import sys

from mtcti3_bridge import Client
from services import wait_for
from testenv import TOP

GUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_readme_example(sim, kafka, bridge):
    text = (TOP / "clients" / "python" / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    sim.ctl("PATCH", "/users/2001", {"dnd": False})
    # one call in progress: a trunk call answered by 2002 (its one leg on a bridge line)
    g2002 = sim.user_guid("2002")
    with Client(kafka.bootstrap, prefix=bridge.prefix).events(["live-calls"]) as live:
        live.read_to_end()

        def leg_state():
            live.poll(0.3)
            return [s["state"] for s in live.state("live-calls").values() if s["line_guid"] == g2002]
        gcid = sim.ctl("POST", "/trunk/call", {"from": "01707100099", "to": "2002", "name": "Readme"})["gcid"]
        wait_for(lambda: leg_state() == ["RINGING"], 20, 0, "2002 ringing")
        sim.ctl("POST", "/phone/2002/answer", {})
        wait_for(lambda: leg_state() == ["CONNECTED"], 20, 0, "2002 connected")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "MTCTI3_KAFKA_BOOTSTRAP": kafka.bootstrap,
                                  "MTCTI3_TOPIC_PREFIX": bridge.prefix})
    finally:
        sim.ctl("POST", "/phone/2002/hangup", {})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    status, code_name, latency = lines[0].split()
    assert (status, code_name) == ("succeeded", "MTCTISESS_SUCCESS") and int(latency) >= 0
    assert lines[1] == "no_target"
    users = {u["guid"]: u for u in sim.model()["users"]}
    presence = [x for x in lines[2:] if x.startswith("user:")]
    phone = {u["guid"]: "connected" if u["extn"] == "2002" else "idle" for u in users.values()}  # 2002 talks
    assert sorted(presence) == sorted(f"user:{g} {u['extn']} {u['dnd']} {phone[g]}" for g, u in users.items())
    assert users[sim.user_guid("2001")]["dnd"] is True
    calls = [x for x in lines[2:] if x.startswith("call:")]
    assert len(lines) == 2 + len(presence) + len(calls)
    [leg] = calls
    m = re.fullmatch(rf"call:({GUID}):([0-9a-f]+):([0-9]+) user 2002 ([0-9a-f]+) CONNECTED", leg)
    assert m and (m[1], m[2], m[4]) == (g2002, gcid, gcid), leg
