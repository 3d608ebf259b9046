"""Writes the fuzz seed corpus (tests/fuzz/corpus/) from messages built with
the Python protobuf runtime.  Each seed is one fuzz input: a selector byte
(0: framed "openapi", 1: bare "openapinoframing") and one websocket payload;
the json_* seeds are JSON text for the parser.  Rerun after changing the
proto:  tests/lib/pyenv.sh && tests/.work/venv/bin/python tests/fuzz/make_corpus.py
"""
import json
import pathlib
import sys

TOP = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(TOP / "tests" / ".work" / "py"))
sys.path.insert(0, str(TOP / "tests" / "lib"))

import ipo_mtcti3_pb2 as pb  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from mtcti3_client import message  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "corpus"
GUID_USER = bytes.fromhex("dc51ba0008a311dd80530050569f6ef8")
GUID_QUEUE = bytes.fromhex("00112233445566778899aabbccddeeff")


def golden():
    return message(pb, "subscribe", requestid=1, subscribe_id=1, timeout=3600, lines={"flags": 7})


def call():
    m = pb.Message()
    m.notify.subscribe_id = 7000
    cc = m.notify.callcontrol
    cc.refreshinstance = 1
    ci = cc.callinfo.add()
    ci.callid, ci.state, ci.direction = 1, pb.CallInfo.RINGING, pb.CallInfo.INBOUND
    ci.gcid = bytes.fromhex("01c0a82a0b000003ec")
    ci.featuresavailable = 0x23
    ci.callingparty.number, ci.callingparty.name, ci.callingparty.nametype = "61001", "Agent 61001", 5
    return m


def call_full():
    m = pb.Message()
    m.notify.subscribe_id = 7500
    cc = m.notify.callcontrol
    ci = cc.callinfo.add()
    ci.callid, ci.state = 2, pb.CallInfo.CONNECTED
    ci.featuresavailable = 0x6060E0B1
    ci.featuresavailable2 = 3
    ci.tag = "VIP"
    ci.remoteinfo.gcid = bytes.fromhex("0a0b0c")
    li = ci.localinfo.add()
    li.deviceclass, li.devicetype = 1, 2
    cm = ci.conferencemember.add()
    cm.lref, cm.state, cm.mute = 4, pb.ConferenceMember.CONNECTED, True
    ci.dialinfo.number = "901707123456"
    ci.trunkinfo.trunktype = pb.TrunkInfo.TrunkSIP
    ci.queueinfo.name, ci.queueinfo.priority = "Agents", 1
    ci.calldata.language = "eng"
    ci.notes.notes = "called about invoice 42"
    ci.ucid.ucid = b"\x00\x01\x02"
    ci.targets.target.add().partyinfo.number = "61002"
    lost = cc.calllost.add()
    lost.callid, lost.reason, lost.description = 1, 3, "dropped"
    return m


def presence():
    m = pb.Message()
    m.notify.subscribe_id = 98765
    m.notify.presence.full = 1
    for i, app in enumerate(["In a meeting", "M\u00fcller \u260e"]):
        e = m.notify.presence.entry.add()
        e.presentity, e.lref, e.sac, e.app = str(201 + i), 5678 + i, bool(i), app
        e.absence.msg, e.absence.str = 3, "back at 3"
    return m


def response(result=602):
    m = pb.Message()
    m.response.requestid, m.response.result, m.response.additional = 9, result, "no such call"
    return m


def lines():
    m = pb.Message()
    m.notify.subscribe_id = 1
    nl = m.notify.lines
    nl.flags = 1
    u = nl.adduser.add()
    u.guid, u.extn, u.name = GUID_USER, "201", "Bergcamp"
    q = nl.addqueue.add()
    q.guid, q.extn, q.name = GUID_QUEUE, "300", "Sales"
    nl.deleteuser.add().guid = GUID_QUEUE
    return m


def user():
    m = pb.Message()
    m.notify.subscribe_id = 7000
    u = m.notify.user
    u.extn, u.name, u.fullname = "201", "Bergcamp", "Dennis Bergcamp"
    u.featuresavailable, u.dnd, u.voicemail = 0x3ff, True, True
    u.mailbox.newmessages, u.mailbox.oldmessages = 2, 5
    u.absence.msg, u.absence.str = 1, "on holiday"
    u.fwdunumber = "07700900123"
    return m


def subscribe_user():
    m = pb.Message()
    s = m.subscribe
    s.requestid, s.subscribe_id, s.timeout = 2, 7000, 3600
    s.user.guid, s.user.flags, s.user.ccflags = GUID_USER, 0xf, 0x19
    return m


def subscribecmd_call():
    m = pb.Message()
    c = m.subscribecmd
    c.requestid, c.subscribe_id = 10, 7000
    cf = c.callcontrol.callfunction
    c.callcontrol.callid = 1
    cf.action, cf.arg1 = pb.CallFunction.BlindTransfer, "202"
    cf.callinst.add().callid = 3
    return m


def getfile_response():
    m = pb.Message()
    g = m.generaldata
    g.responseid = 4
    g.getfile.cmdinst, g.getfile.fname, g.getfile.result = 1, "nasystem/who_is_who", 0
    g.getfile.payload = bytes(range(64))
    return m


def queue():
    m = pb.Message()
    m.notify.subscribe_id = 7600
    q = m.notify.queue
    q.extn, q.name, q.servicemode = "300", "Sales", pb.NotifyQueue.NS
    for extn in ("201", "202"):
        q.queuemembers.member.add().extn = extn
    return m


def notifyack():
    m = pb.Message()
    m.notifyack.subscribe_id, m.notifyack.notify_id = 7000, 12
    return m


def compact(m):
    return json.dumps(json_format.MessageToDict(m, preserving_proto_field_name=True),
                      separators=(",", ":")).encode()


SEEDS = {
    "golden_framed": (0, golden()),
    "golden_bare": (1, golden()),
    "notify_call": (0, call()),
    "notify_call_full": (0, call_full()),
    "notify_presence": (0, presence()),
    "response_602": (0, response()),
    "response_unknown": (1, response(4242)),
    "notify_lines_guids": (1, lines()),
    "notify_user": (0, user()),
    "subscribe_user": (0, subscribe_user()),
    "subscribecmd_callfunction": (0, subscribecmd_call()),
    "generaldata_getfile": (1, getfile_response()),
    "notify_queue": (0, queue()),
    "notifyack": (1, notifyack()),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (bare, msg) in SEEDS.items():
        header = b"" if bare else b"\x00\x00\x00\x01"
        (OUT / name).write_bytes(bytes([bare]) + header + msg.SerializeToString())
    (OUT / "json_golden").write_bytes(compact(golden()))
    (OUT / "json_call_full").write_bytes(compact(call_full()))


if __name__ == "__main__":
    main()
