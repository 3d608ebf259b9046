"""The Python client's commands (clients/python), against the real broker,
Redis, ipo-sim and the bridge: every outcome of send_command, duplicates,
reply_to, and the client's own checks and waits."""
import json
import threading
import time
import uuid

import pytest

from mtcti3_bridge import (Client, CommandFailed, CommandRejected, CommandTimedOut, NoResult,
                           send_command)

REQUESTID_BASE = 1 << 30


def presence_dnd(kafka, bridge, guid):
    """The last presence event of user `guid`, read by the client."""
    with Client(kafka.bootstrap, prefix=bridge.prefix).events(["presence"]) as stream:
        stream.read_to_end()
        return stream.state("presence")[f"user:{guid}"]["dnd"]


def test_succeeded(client, sim, kafka, bridge):
    guid = sim.user_guid("2001")
    assert sim.model_user("2001")["dnd"] is False
    t0 = time.monotonic()
    r = client.send_command("set_dnd", user="2001", args={"on": True}, id="py-dnd-1")
    assert time.monotonic() - t0 < 5
    assert (r.id, r.status, r.outcome, r.duplicate) == ("py-dnd-1", "succeeded", "succeeded", False)
    assert (r.code, r.code_name, r.reason, r.reason_code, r.action, r.data) == \
        (0, "MTCTISESS_SUCCESS", None, None, "set_dnd", None)
    assert REQUESTID_BASE <= r.requestid < 2 ** 31
    assert r.topic == bridge.prefix + "command-results"
    assert r.raw["id"] == "py-dnd-1" and r.raw["status"] == "succeeded"
    assert sim.model_user("2001")["dnd"] is True
    assert presence_dnd(kafka, bridge, guid) is True


def test_data_of_a_pbx_action(client, sim):
    r = client.send_command("get_version")
    assert r.status == "succeeded" and r.action == "get_version"
    assert r.data == {"versioninfo": sim.model()["version"]}
    assert r.id.startswith("py-") and len(r.id) == 35


def test_rejected(client):
    with pytest.raises(CommandRejected) as exc:
        client.send_command("set_dnd", user="2999", args={"on": True}, id="py-rej-1")
    e = exc.value
    assert e.command_id == "py-rej-1"
    assert e.reason_code == "no_target" and e.reason.startswith("no_target")
    assert e.result.status == "rejected" and e.result.requestid is None
    assert str(e) == f"command py-rej-1 rejected: {e.reason}"


def test_rejected_by_the_bridge_on_a_bad_argument(client):
    with pytest.raises(CommandRejected) as exc:
        client.send_command("set_dnd", user="2001", args={"on": "yes"})
    assert exc.value.reason_code == "bad_args"


def test_failed(client):
    with pytest.raises(CommandFailed) as exc:
        client.send_command("get_file", args={"name": "nasystem/Nothing"}, id="py-fail-1")
    e = exc.value
    assert (e.code, e.code_name) == (4, "MTCTISESS_NOTFOUND")
    assert e.result.data["getfile"]["fname"] == "nasystem/Nothing"
    assert str(e) == "command py-fail-1 failed: MTCTISESS_NOTFOUND (4)"


def test_timed_out_when_the_pbx_does_not_answer(client, sim):
    sim.ctl("POST", "/requests/pause", {"on": True})
    try:
        t0 = time.monotonic()
        with pytest.raises(CommandTimedOut) as exc:
            client.send_command("get_version", timeout_ms=1000, id="py-to-1")
        took = time.monotonic() - t0
    finally:
        sim.ctl("POST", "/requests/pause", {"on": False})
    assert isinstance(exc.value, TimeoutError)
    assert exc.value.result.status == "timeout" and exc.value.result.code is None
    assert exc.value.result.reason.startswith("no answer from the PBX by the deadline")
    assert 0.9 <= took < 5, took


def test_duplicates_run_once(client, sim):
    sim.ctl("PATCH", "/users/2002", {"dnd": False})
    first = client.send_command("set_dnd", user="2002", args={"on": True}, id="py-dup-1")
    sim.ctl("PATCH", "/users/2002", {"dnd": False})  # a rerun would set it again
    again = client.send_command("set_dnd", user="2002", args={"on": True}, id="py-dup-1")
    assert (again.status, again.original_status, again.outcome, again.duplicate) == \
        ("duplicate", "succeeded", "succeeded", True)
    assert again.requestid == first.requestid and again.code == 0
    assert sim.model_user("2002")["dnd"] is False
    # a duplicate of a refusal is the refusal again
    with pytest.raises(CommandRejected):
        client.send_command("set_dnd", user="2998", args={"on": True}, id="py-dup-2")
    with pytest.raises(CommandRejected) as exc:
        client.send_command("set_dnd", user="2998", args={"on": True}, id="py-dup-2")
    assert exc.value.result.status == "duplicate" and exc.value.result.original_status == "rejected"
    assert str(exc.value).startswith("command py-dup-2 rejected (duplicate: the first outcome): no_target")


def test_reply_to(client, kafka_topic, bridge):
    reply = kafka_topic(partitions=2, prefix="replies")
    r = client.send_command("get_version", reply_to=reply)
    assert r.status == "succeeded" and r.topic == reply
    # the default topic is the results topic again
    assert client.send_command("get_version").topic == bridge.prefix + "command-results"


def test_wrong_pbx(kafka, bridge):
    with Client(kafka.bootstrap, prefix=bridge.prefix, pbx="another-pbx") as other:
        with pytest.raises(CommandRejected) as exc:
            other.send_command("get_version")
    assert exc.value.reason_code == "wrong_pbx"


def test_send_command_function(kafka, bridge):
    r = send_command(kafka.bootstrap, "get_version", prefix=bridge.prefix, id="py-fn-1")
    assert (r.id, r.status) == ("py-fn-1", "succeeded")


def test_no_result_when_nobody_answers(kafka, kafka_topic):
    # A PBX prefix with its command topics but no bridge.
    prefix = f"nobody{uuid.uuid4().hex[:6]}."
    kafka.create_topic(prefix + "commands", 1)
    kafka.create_topic(prefix + "command-results", 3)
    with Client(kafka.bootstrap, prefix=prefix) as c:
        t0 = time.monotonic()
        with pytest.raises(NoResult) as exc:
            c.send_command("get_version", id="py-nores-1", wait=1.5)
        took = time.monotonic() - t0
    assert 1.5 <= took < 12, took  # wait counts from the send; finding the new topic's ends may add some
    assert isinstance(exc.value, TimeoutError) and exc.value.result is None
    assert str(exc.value) == f"command py-nores-1: no result on {prefix}command-results within 1.5 s"
    # the command itself is on the commands topic, keyed by its id
    [m] = kafka.consume_all(prefix + "commands")
    assert m.key == b"py-nores-1" and m.value == b'{"id": "py-nores-1", "action": "get_version"}'


@pytest.mark.parametrize("kw, message", [
    ({"id": "bad id"}, "command id 'bad id': must be 1 to 128 of A-Za-z0-9._:-"),
    ({"id": "x" * 129}, "command id '" + "x" * 129 + "': must be 1 to 128 of A-Za-z0-9._:-"),
    ({"user": "2001", "queue": "5001"}, "target: user or queue, not both"),
    ({"callid": 1, "referencecallid": 2}, "call: callid or referencecallid, not both"),
])
def test_refused_before_sending(kw, message):
    c = Client("127.0.0.1:1", prefix="never.")
    with pytest.raises(ValueError) as exc:
        c.send_command("drop", **kw)
    assert str(exc.value) == message
    assert c._sender is None  # nothing was connected


def test_a_duplicate_of_a_running_command_waits_for_its_outcome(kafka, bridge, sim):
    """The same id sent again while the first is still waiting for the PBX:
    the bridge answers duplicate (original_status accepted), which is not
    final; the second sender keeps waiting and gets the first run's own
    outcome (here its timeout)."""
    first = {}

    def run_first():
        with Client(kafka.bootstrap, prefix=bridge.prefix) as a:
            try:
                a.send_command("get_version", id="py-dup-run", timeout_ms=2500)
            except CommandTimedOut as e:
                first["result"] = e.result
    sim.ctl("POST", "/requests/pause", {"on": True})
    try:
        t = threading.Thread(target=run_first)
        t.start()
        time.sleep(0.8)  # the first is accepted and waits for the PBX
        with Client(kafka.bootstrap, prefix=bridge.prefix) as b:
            with pytest.raises(CommandTimedOut) as exc:
                b.send_command("get_version", id="py-dup-run", timeout_ms=2500)
        t.join(15)
    finally:
        sim.ctl("POST", "/requests/pause", {"on": False})
    assert first["result"].status == "timeout"
    got = exc.value.result
    assert (got.status, got.duplicate, got.requestid) == ("timeout", False, first["result"].requestid)
    # what the second sender saw first: the duplicate answer, not final
    results = [m for m in kafka.consume_all(bridge.prefix + "command-results") if m.key == b"py-dup-run"]
    statuses = [(json.loads(m.value)["status"], json.loads(m.value).get("original_status")) for m in results]
    assert statuses == [("duplicate", "accepted"), ("timeout", None)]
