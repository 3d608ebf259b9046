"""Bad input from clients, at volume: random bytes, truncated and mutated
valid messages, random valid requests with wrong ids.  The simulator must
answer or ignore each, never crash, and keep serving the other clients."""
import asyncio
import random

from simlib import guid_bytes, run


def sample_messages(pb, model):
    """A spread of valid requests, some with ids that do not exist."""
    g = guid_bytes(model["users"][0]["guid"])
    q = guid_bytes(model["queues"][0]["guid"])
    out = []

    def m(**kw):
        msg = pb.Message()
        for k, v in kw.items():
            getattr(msg, k).MergeFrom(v)
        out.append(msg)
    m(subscribe=pb.Subscribe(requestid=1, subscribe_id=1, timeout=3600, lines=pb.SubscribeLines(flags=7)))
    m(subscribe=pb.Subscribe(requestid=2, subscribe_id=2, user=pb.SubscribeUser(guid=g, flags=0xF, ccflags=0xFFFFFFF)))
    m(subscribe=pb.Subscribe(requestid=3, subscribe_id=3, queue=pb.SubscribeQueue(guid=q, flags=3, ccflags=-1)))
    m(subscribe=pb.Subscribe(requestid=4, subscribe_id=4, timeout=100,
                             presence=pb.SubscribePresence(entry=[pb.Presentity(presentity="2001", lref=1)])))
    m(subscribecmd=pb.SubscribeCmd(requestid=5, subscribe_id=2, callcontrol=pb.UpdateCallControl(
        referencecallid=9, makecall=pb.MakeCall(target="2002"))))
    for action in range(0, 40):
        m(subscribecmd=pb.SubscribeCmd(requestid=6, subscribe_id=2, callcontrol=pb.UpdateCallControl(
            callid=action % 7, callfunction=pb.CallFunction(action=action, arg1="2003"))))
        m(subscribecmd=pb.SubscribeCmd(requestid=7, subscribe_id=3, callcontrol=pb.UpdateCallControl(
            callid=action % 7, callfunction=pb.CallFunction(action=action, arg1="1"))))
    m(subscribecmd=pb.SubscribeCmd(requestid=8, subscribe_id=2, user=pb.UpdateUser(
        shortcodedata=[pb.ShortCodeData(code=70, val=";1,2,3")])))
    m(subscribecmd=pb.SubscribeCmd(requestid=9, subscribe_id=3, queue=pb.UpdateQueue(
        addmember=[pb.QueueMember(extn="2002")])))
    m(subscribeend=pb.SubscribeEnd(requestid=10, subscribe_id=4))
    m(notifyack=pb.NotifyAck(subscribe_id=1, notify_id=77))
    m(generalcmd=pb.GeneralCmd(requestid=11, getfile=pb.GetFile(fname="nasystem/AccountCode")))
    return out


def test_fuzzed_input_never_hurts(sim, pb):
    rng = random.Random(1234)
    model = sim.model()
    msgs = [x.SerializeToString() for x in sample_messages(pb, model)]

    async def body():
        watcher = await sim.client(pb, auto_ack=True)
        await watcher.subscribe(requestid=1, subscribe_id=1, lines={"flags": 3})
        await watcher.wait_notify(1)
        for round_ in range(3):
            c = await sim.client(pb, subprotocol=rng.choice(["openapi", "openapinoframing"]))
            for _ in range(300):
                data = rng.choice(msgs)
                kind = rng.randrange(5)
                if kind == 1:
                    data = data[:rng.randrange(len(data) + 1)]
                elif kind == 2:
                    b = bytearray(data)
                    for _ in range(rng.randrange(1, 4)):
                        if b:
                            b[rng.randrange(len(b))] = rng.randrange(256)
                    data = bytes(b)
                elif kind == 3:
                    data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
                try:
                    await c.send_raw((b"\x00\x00\x00\x01" if c.framed else b"") + data)
                except Exception:
                    break
            # Read whatever came back; then the session either still answers or was closed.
            try:
                await c.expect_silence(0.3, lambda m: False)
                await c.generalcmd(requestid=999, getversioninfo=True)
                await c.wait_for(lambda m: m.WhichOneof("payload") == "generaldata"
                                 and m.generaldata.responseid == 999, timeout=5)
                await c.close()
            except Exception:
                pass
            sim.ctl("POST", "/calls/clear", {}, expect=200)
        # The watcher was served throughout and still is.
        sim.ctl("POST", "/users", {"extn": "2999"}, expect=201)
        n = await watcher.wait_notify(1, "lines", timeout=5)
        assert [u.extn for u in n.lines.adduser] == ["2999"]
        assert sim.alive()
        await watcher.close()
    run(body(), timeout=60)
