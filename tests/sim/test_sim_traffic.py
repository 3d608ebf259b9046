"""Traffic: the load generator's mix and the scripted scenarios; and that a
client that never acknowledges, or never reads, stalls nobody else."""
import asyncio
import json
import socket
import ssl
import time

from simlib import PASSWORD, guid_bytes, run


def test_load_generator_mix(sim_factory, pb):
    s = sim_factory("--users", "30", "--queues", "3", "--seed", "3", "--calls-per-second", "20",
                    "--ring-ms", "200")

    async def body():
        c = await s.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, lines={"flags": 3})
        await c.wait_notify(1)
        q = s.queue("5001")
        await c.subscribe(requestid=2, subscribe_id=2, queue={"guid": guid_bytes(q["guid"]),
                                                              "ccflags": 1})
        n = await c.wait_notify(2, "callcontrol", timeout=10)
        assert n.callcontrol.callinfo or n.callcontrol.calllost
        await asyncio.sleep(2.5)
        stats = s.ctl("GET", "/stats")[1]["traffic"]
        started = stats["started"]
        assert sum(started.values()) >= 20
        assert started["answered"] and started["queued"]
        s.ctl("POST", "/traffic", {"calls_per_second": 0}, expect=200)
        await c.close()
    run(body())


def test_scenario_file(sim_factory, pb, tmp_path):
    scen = {"steps": [
        {"at_ms": 0, "method": "POST", "path": "/trunk/call", "body": {"to": "2001", "from": "0999"},
         "save": "call1"},
        {"at_ms": 300, "method": "POST", "path": "/phone/2001/answer", "body": {}},
        {"at_ms": 600, "method": "POST", "path": "/phone/2001/hold", "body": {}},
        {"at_ms": 900, "method": "POST", "path": "/trunk/hangup", "body": {"gcid": "${call1}"}},
    ]}
    path = tmp_path / "scen.json"
    path.write_text(json.dumps(scen))
    s = sim_factory("--scenario", str(path))
    st = pb.CallInfo

    async def body():
        c = await s.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1,
                          user={"guid": guid_bytes(s.user("2001")["guid"]), "ccflags": 1})
        states = []
        lost = None
        deadline = time.monotonic() + 5
        while lost is None and time.monotonic() < deadline:
            n = await c.wait_notify(1, "callcontrol", timeout=3)
            states += [ci.state for ci in n.callcontrol.callinfo]
            if n.callcontrol.calllost:
                lost = n.callcontrol.calllost[0]
        assert st.CONNECTED in states and st.ONHOLD in states
        assert lost is not None and not lost.thisenddropped
        stats = s.ctl("GET", "/stats")[1]["traffic"]
        assert stats["scenario_steps_run"] == 4 and stats["scenario_steps_failed"] == 0
        await c.close()
    run(body())


def test_silent_clients_stall_nobody(sim, pb):
    """One client never acks, one never reads: a third still gets every Notify promptly."""
    async def body():
        guid = guid_bytes(sim.user("2001")["guid"])
        lazy = await sim.client(pb)
        await lazy.subscribe(requestid=1, subscribe_id=1, user={"guid": guid, "ccflags": 0xFF})
        await lazy.subscribe(requestid=2, subscribe_id=2, lines={"flags": 3})
        # A raw TLS websocket that subscribes and then never reads a byte.
        ctx = ssl.create_default_context(cafile=sim.ca_file)
        raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", sim.wss_port)),
                              server_hostname="localhost")
        import base64
        auth = base64.b64encode(f"mtcti3:{PASSWORD}".encode()).decode()
        raw.sendall(("GET /tpkt/openapi HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: openapi\r\n"
                     f"Authorization: Basic {auth}\r\n\r\n").encode())
        good = await sim.client(pb, auto_ack=True)
        await good.subscribe(requestid=1, subscribe_id=1, user={"guid": guid, "ccflags": 1})
        await good.wait_notify(1, "user")
        for i in range(30):
            sim.ctl("POST", "/trunk/call", {"to": "2001"}, expect=200)
            sim.ctl("POST", "/phone/2001/answer", {}, expect=200)
            sim.ctl("POST", "/phone/2001/hangup", {}, expect=200)
        lost = 0
        while lost < 30:
            n = await good.wait_notify(1, "callcontrol", timeout=5)
            lost += len(n.callcontrol.calllost)
        # The lazy client got exactly one Notify per subscription.
        await lazy.expect_silence(0.5, lambda m: False)   # just read what is there
        kinds = [m.notify.subscribe_id for m in lazy.received if m.WhichOneof("payload") == "notify"]
        assert sorted(kinds) == [1, 2]
        raw.close()
        await lazy.close()
        await good.close()
    run(body())
