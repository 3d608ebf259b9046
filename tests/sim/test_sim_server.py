"""The transport: TLS websocket at /tpkt/openapi, Basic authentication of the
service user, both framings, the connection limit, plain HTTP refused, and
bad input that must never take the simulator down."""
import asyncio
import base64
import socket
import ssl
import subprocess

import pytest
import websockets

from mtcti3_client import HandshakeRefused, Mtcti3Client, message
from simlib import PASSWORD, binary, run


def lines_golden(pb):
    """The spec's golden vector: a Lines subscription."""
    return message(pb, "subscribe", requestid=1, subscribe_id=1, timeout=3600, lines={"flags": 7})


def test_golden_vector_framed(sim, pb):
    """The spec's 18-byte framed lines subscription gets RequestResponse 0 then the list."""
    async def body():
        c = await sim.client(pb)
        raw = bytes.fromhex("000000011a0c080110011890 1cc202020807".replace(" ", ""))
        assert raw == c.encode(lines_golden(pb))
        await c.send_raw(raw)
        rr = await c.wait_response(1)
        assert rr.result == 0
        n = await c.wait_notify(1, "lines")
        assert n.notify_id > 0
        assert len(n.lines.adduser) == 20 and len(n.lines.addqueue) == 3
        await c.close()
    run(body())
    # Every message in and out is in the debug log, in the codec's text rendering.
    log = sim.tail(1 << 20)
    assert "<- Message { subscribe { requestid=1 subscribe_id=1 timeout=3600 lines { flags=0x7 } } }" in log
    assert "-> Message { response { requestid=1 } }" in log


def test_noframing_subprotocol(sim, pb):
    async def body():
        c = await sim.client(pb, subprotocol="openapinoframing")
        assert c.ws.subprotocol == "openapinoframing"
        raw = bytes.fromhex("1a0c0801100118901cc2020208 07".replace(" ", ""))
        await c.send_raw(raw)
        assert (await c.wait_response(1)).result == 0
        n = await c.wait_notify(1, "lines")
        assert len(n.lines.adduser) == 20
        await c.close()
    run(body())


@pytest.mark.parametrize("user,password", [(None, None), ("mtcti3", "wrong"), ("other", PASSWORD)])
def test_bad_credentials_get_401(sim, pb, user, password):
    async def body():
        with pytest.raises(HandshakeRefused) as e:
            await Mtcti3Client.connect(sim.url, user, password, pb, cafile=sim.ca_file)
        assert e.value.status == 401
    run(body())


def test_wrong_path_and_subprotocol_refused(sim, pb):
    async def body():
        with pytest.raises(HandshakeRefused) as e:
            await Mtcti3Client.connect(sim.url.replace("/tpkt/openapi", "/other"), "mtcti3",
                                       PASSWORD, pb, cafile=sim.ca_file)
        assert e.value.status == 404
        with pytest.raises(HandshakeRefused) as e:
            await Mtcti3Client.connect(sim.url, "mtcti3", PASSWORD, pb, cafile=sim.ca_file,
                                       subprotocol="chat")
        assert e.value.status == 400
    run(body())


def test_plain_http_refused(sim):
    """A real IP Office serves MTCTI3 over HTTPS only: plain ws gets no upgrade."""
    async def body():
        with pytest.raises(Exception):
            ws = await asyncio.wait_for(websockets.connect(
                f"ws://127.0.0.1:{sim.wss_port}/tpkt/openapi", subprotocols=["openapi"],
                extra_headers={"Authorization": "Basic " + base64.b64encode(
                    f"mtcti3:{PASSWORD}".encode()).decode()}), 5)
            await ws.close()
    run(body())


def test_insecure_plain_ws_flag(sim_factory, pb):
    s = sim_factory("--insecure-plain-ws")

    async def body():
        c = await Mtcti3Client.connect(f"ws://127.0.0.1:{s.wss_port}/tpkt/openapi", "mtcti3",
                                       PASSWORD, pb)
        await c.generalcmd(requestid=5, getversioninfo=True)
        gd = await c.wait_kind("generaldata")
        assert gd.responseid == 5
        await c.close()
        # TLS still works on the same port.
        c = await s.client(pb)
        await c.close()
    run(body())


def test_eleventh_connection_refused(sim, pb):
    async def body():
        clients = [await sim.client(pb) for _ in range(10)]
        with pytest.raises(HandshakeRefused) as e:
            await sim.client(pb)
        assert e.value.status == 503
        await clients[0].close()
        await asyncio.sleep(0.2)
        again = await sim.client(pb)  # a slot is free again
        for c in clients[1:] + [again]:
            await c.close()
    run(body())


def test_max_connections_option(sim_factory, pb):
    s = sim_factory("--max-connections", "2")

    async def body():
        a, b = await s.client(pb), await s.client(pb)
        with pytest.raises(HandshakeRefused):
            await s.client(pb)
        await a.close()
        await b.close()
    run(body())


def test_garbage_gets_unpackerr_and_connection_survives(sim, pb):
    async def body():
        c = await sim.client(pb)
        other = await sim.client(pb)
        await c.send_raw(b"\x00\x00\x00\x01\xff\xff\xff\xff\xff")   # bad protobuf
        rr = await c.wait_kind("response")
        assert rr.requestid == 0 and rr.result == 2   # MTCTISESS_UNPACKERR
        await c.send_raw(b"\x01\x02\x03\x04\x1a\x00")               # bad frame header
        rr = await c.wait_kind("response")
        assert rr.result == 2
        await c.send_raw(b"hello")                                  # short, not framed
        assert (await c.wait_kind("response")).result == 2
        await c.send_raw("text frame")
        assert (await c.wait_kind("response")).result == 2
        # Unknown payloads (things only IP Office sends) are ignored.
        m = pb.Message()
        m.response.requestid = 9
        await c.send(m)
        await c.send_raw(b"\x00\x00\x00\x01")                        # empty Message
        await c.expect_silence(0.3)
        # Both sessions still work.
        for cl in (c, other):
            await cl.generalcmd(requestid=77, getversioninfo=True)
            assert (await cl.wait_kind("generaldata")).responseid == 77
            await cl.close()
    run(body())


def test_oversize_message_closes_with_1009(sim_factory, pb):
    s = sim_factory("--max-payload", "1000")

    async def body():
        c = await s.client(pb)
        other = await s.client(pb)
        await c.send_raw(b"\x00\x00\x00\x01" + b"\x22" + b"\x00" * 2000)
        code, _ = await c.wait_closed()
        assert code == 1009
        await other.generalcmd(requestid=1, getversioninfo=True)
        assert (await other.wait_kind("generaldata")).responseid == 1
        await other.close()
    run(body())


def test_messages_of_every_size_each_its_own_websocket_message(sim_factory, pb):
    """Large (over 64 KiB), medium and small messages, many queued at once, in both
    framings: each arrives whole, as one websocket message, in order."""
    s = sim_factory("--users", "2500", "--queues", "2")
    users = s.model()["users"]

    async def body():
        for sub in ("openapi", "openapinoframing"):
            c = await s.client(pb, subprotocol=sub)
            await c.subscribe(requestid=1, subscribe_id=1, lines={"flags": 3})
            assert (await c.wait_response(1)).result == 0
            n = await c.wait_notify(1, "lines", timeout=20)
            assert len(n.lines.adduser) == 2500 and len(n.lines.addqueue) == 2
            assert n.ByteSize() > 65536
            entries = [{"presentity": u["extn"]} for u in users[:400]]
            await c.subscribe(requestid=2, subscribe_id=2, timeout=3600, presence={"entry": entries})
            assert (await c.wait_response(2)).result == 0
            n = await c.wait_notify(2, "presence", timeout=10)
            assert 126 <= n.ByteSize() < 65536 and len(n.presence.entry) == 400
            # 300 requests sent at once: their answers and Notifies come in the same turns.
            for i, u in enumerate(users[:300]):
                m = pb.Message()
                m.subscribe.requestid = 100 + i
                m.subscribe.subscribe_id = 100 + i
                m.subscribe.user.guid = bytes.fromhex(u["guid"].replace("-", ""))
                await c.send(m)
            got = [await c.wait_for(lambda m: True, 10) for _ in range(600)]
            responses = [m.response for m in got if m.WhichOneof("payload") == "response"]
            assert [r.requestid for r in responses] == list(range(100, 400))
            assert all(r.result == 0 for r in responses)
            notifies = {m.notify.subscribe_id: m.notify.user.extn for m in got
                        if m.WhichOneof("payload") == "notify"}
            assert notifies == {100 + i: u["extn"] for i, u in enumerate(users[:300])}
            await c.close()
    run(body())


def test_abrupt_disconnects_do_not_hurt(sim, pb):
    """Clients vanishing mid-session (TCP reset, half a handshake) leave the simulator serving."""
    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=1, lines={"flags": 3})
        c.ws.transport.abort()
        sock = socket.create_connection(("127.0.0.1", sim.wss_port))
        sock.sendall(b"\x16\x03\x01\x00\x05hello")
        sock.close()
        ctx = ssl.create_default_context(cafile=sim.ca_file)
        raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", sim.wss_port)),
                              server_hostname="localhost")
        raw.sendall(b"GET /tpkt/openapi HTTP/1.1\r\nHost: x\r\n")   # never finished
        raw.close()
        c2 = await sim.client(pb)
        await c2.generalcmd(requestid=3, getversioninfo=True)
        assert (await c2.wait_kind("generaldata")).responseid == 3
        await c2.close()
    run(body())


def test_help_and_version():
    out = subprocess.run([str(binary("ipo-sim")), "--help"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0
    for opt in ("--listen", "--control", "--ready-file", "--model", "--users", "--queues",
                "--seed", "--service-user", "--password-file", "--cert", "--key", "--tls-dir",
                "--insecure-plain-ws", "--calls-per-second", "--scenario", "--max-connections",
                "--max-payload", "--log-level", "--help", "--version"):
        assert opt in out.stdout
    out = subprocess.run([str(binary("ipo-sim")), "--version"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("ipo-sim ")
    out = subprocess.run([str(binary("ipo-sim")), "--bogus"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2 and "unknown option" in out.stderr


def test_password_file_and_service_user(sim_factory, pb, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    s = sim_factory("--service-user", "ctiapp", "--password-file", str(pw),
                    env={"IPO_SIM_PASSWORD": ""})

    async def body():
        c = await Mtcti3Client.connect(s.url, "ctiapp", "from-file", pb, cafile=s.ca_file)
        await c.close()
        with pytest.raises(HandshakeRefused):
            await Mtcti3Client.connect(s.url, "ctiapp", PASSWORD, pb, cafile=s.ca_file)
    run(body())


def test_tls_dir_reused_and_cert_key_options(sim_factory, pb):
    a = sim_factory()
    ca = open(a.ca_file).read()
    b = sim_factory("--cert", str(a.dir / "tls" / "server.pem"), "--key",
                    str(a.dir / "tls" / "server.key"))

    async def body():
        c = await Mtcti3Client.connect(b.url, "mtcti3", PASSWORD, pb, cafile=a.ca_file)
        await c.close()
    run(body())
    assert "BEGIN CERTIFICATE" in ca


@pytest.mark.parametrize("subprotocol", ["openapi", "openapinoframing"])
def test_text_frame_with_a_valid_message_gets_unpackerr(sim, pb, subprotocol):
    """MTCTI3 is protobuf in binary frames: a text frame is not a message,
    even when its bytes would decode as one."""
    async def body():
        c = await sim.client(pb, subprotocol=subprotocol)
        msg = message(pb, "generalcmd", requestid=77, getversioninfo=True)
        data = c.encode(msg)
        assert data.decode("utf-8")                  # valid UTF-8: a legal text frame
        await c.send_raw(data.decode("utf-8"))
        rr = await c.wait_kind("response")
        assert (rr.requestid, rr.result, rr.additional) == (
            0, 2, "text frame: MTCTI3 messages are protobuf in binary frames")
        await c.expect_silence(0.3)                  # no GeneralData: it was not processed
        await c.send(msg)                            # the same bytes, binary: answered
        assert (await c.wait_kind("generaldata")).responseid == 77
        await c.close()
    run(body())


def test_text_frame_of_invalid_utf8_gets_unpackerr(sim, pb):
    """Any text frame, UTF-8 or not, is answered the same way; the session stays."""
    from websockets.frames import OP_TEXT

    async def body():
        c = await sim.client(pb)
        await c.ws.write_frame(True, OP_TEXT, b"\x00\x00\x00\x01\xff\xfe")
        rr = await c.wait_kind("response")
        assert (rr.requestid, rr.result) == (0, 2)
        await c.generalcmd(requestid=78, getversioninfo=True)
        assert (await c.wait_kind("generaldata")).responseid == 78
        await c.close()
    run(body())
