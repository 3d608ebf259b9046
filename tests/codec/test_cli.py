"""The mtcti3 command-line tool, run as a real binary.

Scenarios: the spec's golden vector both ways; many payloads in order; both
framings; the text renderings; each kind of bad input reported on one stderr
line naming its input line while later lines still go through (exit 1);
help for every subcommand; usage errors (exit 2).  Payloads are cross-checked
against the Python protobuf runtime, an independent proto3 implementation.
"""
import json
import re
import subprocess

import pytest
from google.protobuf import json_format

from mtcti3_client import message
from testenv import binary

GOLDEN_HEX = "000000011a0c0801100118901cc202020807"
GOLDEN_JSON = '{"subscribe":{"requestid":1,"subscribe_id":1,"timeout":3600,"lines":{"flags":7}}}'
HEADER = b"\x00\x00\x00\x01"


def run(*args, stdin=b""):
    if isinstance(stdin, str):
        stdin = stdin.encode()
    return subprocess.run([str(binary("mtcti3")), *args], input=stdin, capture_output=True,
                          timeout=60)


def out_lines(proc):
    return proc.stdout.decode().splitlines()


def err_lines(proc):
    return proc.stderr.decode().splitlines()


def to_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


# ---- messages built with the Python runtime ----

def msg_golden(pb):
    """The spec's golden vector: a Lines subscription."""
    return message(pb, "subscribe", requestid=1, subscribe_id=1, timeout=3600, lines={"flags": 7})


def msg_call(pb):
    m = pb.Message()
    m.notify.subscribe_id = 7000
    cc = m.notify.callcontrol
    cc.refreshinstance = 1
    ci = cc.callinfo.add()
    ci.callid = 1
    ci.state = pb.CallInfo.RINGING
    ci.direction = pb.CallInfo.INBOUND
    ci.gcid = bytes.fromhex("01c0a82a0b000003ec")
    ci.featuresavailable = 0x23
    ci.callingparty.number = "61001"
    ci.callingparty.name = "Agent 61001"
    ci.callingparty.nametype = 5
    return m


def msg_response(pb, result=602):
    m = pb.Message()
    m.response.requestid = 9
    m.response.result = result
    m.response.additional = "no such call"
    return m


def msg_presence(pb):
    m = pb.Message()
    m.notify.subscribe_id = 98765
    e = m.notify.presence.entry.add()
    e.presentity = "201"
    e.lref = 5678
    e.sac = True
    e.app = "In a meeting"
    return m


def framed(msg):
    return HEADER + msg.SerializeToString()


# ---- the golden vector ----

def test_golden_decode():
    p = run("decode", "--hex", stdin=GOLDEN_HEX + "\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == GOLDEN_JSON + "\n"
    assert p.stderr == b""


def test_golden_encode():
    p = run("encode", "--hex", stdin=GOLDEN_JSON + "\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == GOLDEN_HEX + "\n"
    assert p.stderr == b""


def test_golden_matches_python(pb):
    assert framed(msg_golden(pb)).hex() == GOLDEN_HEX


def test_golden_binary_both_ways():
    p = run("decode", stdin=bytes.fromhex(GOLDEN_HEX))
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == GOLDEN_JSON + "\n"
    p = run("encode", stdin=json.dumps(json.loads(GOLDEN_JSON), indent=2))  # spans lines
    assert p.returncode == 0, p.stderr
    assert p.stdout == bytes.fromhex(GOLDEN_HEX)


def test_hex_with_spaces_case_and_blank_lines():
    spaced = " ".join(GOLDEN_HEX[i:i + 2] for i in range(0, len(GOLDEN_HEX), 2)).upper()
    p = run("decode", "--hex", stdin=f"\n   \n\t{spaced}  \r\n\n")
    assert p.returncode == 0, p.stderr
    assert out_lines(p) == [GOLDEN_JSON]


# ---- many payloads, both framings ----

def test_several_lines_in_order(pb):
    msgs = [msg_golden(pb), msg_call(pb), msg_response(pb), msg_presence(pb)]
    p = run("decode", "--hex", stdin="".join(framed(m).hex() + "\n" for m in msgs))
    assert p.returncode == 0, p.stderr
    got = [json.loads(line) for line in out_lines(p)]
    assert got == [to_dict(m) for m in msgs]
    # and back: the encoder gives exactly the bytes the Python runtime gives
    p2 = run("encode", "--hex", stdin=p.stdout)
    assert p2.returncode == 0, p2.stderr
    assert out_lines(p2) == [framed(m).hex() for m in msgs]


def test_noframing_both_ways(pb):
    m = msg_call(pb)
    bare = m.SerializeToString()
    p = run("decode", "--hex", "--noframing", stdin=bare.hex() + "\n")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == to_dict(m)
    p = run("encode", "--hex", "--noframing", stdin=json.dumps(to_dict(m)) + "\n")
    assert p.returncode == 0, p.stderr
    assert out_lines(p) == [bare.hex()]
    # the framed payload is not bare protobuf: 00 00 00 01 is a bad tag
    p = run("decode", "--noframing", stdin=framed(m))
    assert p.returncode == 1
    assert p.stdout == b""
    assert err_lines(p) == ["mtcti3 decode: Message: field number out of range at offset 0"]


def test_encoded_payload_parses_in_python(pb):
    m = msg_presence(pb)
    p = run("encode", stdin=json.dumps(to_dict(m)))
    assert p.returncode == 0, p.stderr
    assert p.stdout[:4] == HEADER
    back = pb.Message()
    back.ParseFromString(p.stdout[4:])
    assert back == m


# ---- text renderings ----

def test_format_text_golden():
    p = run("decode", "--hex", "--format", "text", stdin=GOLDEN_HEX + "\n" + GOLDEN_HEX + "\n")
    assert p.returncode == 0, p.stderr
    block = ("Message {\n"
             "  subscribe {\n"
             "    requestid=1\n"
             "    subscribe_id=1\n"
             "    timeout=3600\n"
             "    lines {\n"
             "      flags=0x7\n"
             "    }\n"
             "  }\n"
             "}\n\n")
    assert p.stdout.decode() == block + block


def test_format_line_call(pb):
    p = run("decode", "--hex", "--format=line", stdin=framed(msg_call(pb)).hex())
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == (
        "Message { notify { subscribe_id=7000 callcontrol { refreshinstance=1 callinfo { "
        "callid=1 state=RINGING direction=INBOUND gcid=01c0a82a0b000003ec "
        "featuresavailable=0x23 DROP ANSWER REDIRECT callingparty { number=61001 "
        "name=\"Agent 61001\" nametype=5 } } } } }\n")


def test_format_line_result_names(pb):
    lines = framed(msg_response(pb, 602)).hex() + "\n" + framed(msg_response(pb, 4242)).hex()
    p = run("decode", "--hex", "--format", "line", stdin=lines)
    assert p.returncode == 0, p.stderr
    assert out_lines(p) == [
        "Message { response { requestid=9 result=602 MTCTISESS_CALLCONTROL_CALLNOTFOUND "
        "additional=\"no such call\" } }",
        "Message { response { requestid=9 result=4242 additional=\"no such call\" } }",
    ]


# ---- bad input: one stderr line per bad input line, the rest still done ----

ERR_RE = re.compile(r"^mtcti3 (decode|encode): line (\d+): \S.*$")


def check_errors(p, want):
    """want: {line number: substring of the message}."""
    errs = err_lines(p)
    assert len(errs) == len(want), errs
    got = {}
    for e in errs:
        m = ERR_RE.match(e)
        assert m, e
        got[int(m.group(2))] = e
    assert sorted(got) == sorted(want), errs
    for n, text in want.items():
        assert text in got[n], (n, got[n])


@pytest.mark.parametrize("bad, opts, message", [
    ("000000011a0c0801100118901cc20202080", [], "odd number of hex digits (35)"),
    ("00000001zz", [], "not a hex digit: 'z' at column 9"),
    ("000000021a0c0801100118901cc202020807", [],
     "bad framing header 00 00 00 02 (expected 00 00 00 01)"),
    ("1a0208ff", ["--noframing"],
     "Message.subscribe.requestid (1): truncated or overlong varint at offset 2"),
    ("000000", [], "frame of 3 bytes is shorter than the 4-octet header"),
    ("000000011a0c0801100118901cc2020208", [],
     "Message.subscribe (3): length 12 runs past the end (11 bytes left) at offset 0"),
    ("0000000128c801", [], "Message.subscribeend (5): wire type varint where "
     "length-delimited was expected at offset 0"),
])
def test_decode_bad_line(bad, opts, message):
    good = GOLDEN_HEX if "--noframing" not in opts else GOLDEN_HEX[8:]
    stdin = f"{good}\n\n{bad}\n{good}\n"
    p = run("decode", "--hex", *opts, stdin=stdin)
    assert p.returncode == 1
    assert out_lines(p) == [GOLDEN_JSON, GOLDEN_JSON]
    check_errors(p, {3: message})


def test_decode_oversize_payload(pb):
    big = msg_response(pb)  # > 16 bytes of protobuf
    assert len(big.SerializeToString()) > 16
    stdin = "\n".join([GOLDEN_HEX, framed(big).hex(), GOLDEN_HEX]) + "\n"
    p = run("decode", "--hex", "--max-payload", "16", stdin=stdin)
    assert p.returncode == 1
    assert out_lines(p) == [GOLDEN_JSON, GOLDEN_JSON]
    n = len(big.SerializeToString())
    check_errors(p, {2: f"payload of {n} bytes exceeds the limit of 16 bytes"})


def test_decode_many_bad_lines_all_reported():
    stdin = "\n".join(["zz", GOLDEN_HEX, "abc", "00000002", GOLDEN_HEX, "00"]) + "\n"
    p = run("decode", "--hex", stdin=stdin)
    assert p.returncode == 1
    assert out_lines(p) == [GOLDEN_JSON, GOLDEN_JSON]
    check_errors(p, {1: "not a hex digit", 3: "odd number", 4: "bad framing header",
                     6: "shorter than"})


def test_decode_binary_errors():
    p = run("decode", stdin=b"\x00\x00\x00\x02\x1a\x00")
    assert p.returncode == 1
    assert p.stdout == b""
    assert err_lines(p) == ["mtcti3 decode: bad framing header 00 00 00 02 (expected 00 00 00 01)"]
    p = run("decode", "--max-payload", "8", stdin=bytes.fromhex(GOLDEN_HEX))
    assert p.returncode == 1
    assert err_lines(p) == ["mtcti3 decode: payload of 14 bytes exceeds the limit of 8 bytes"]


@pytest.mark.parametrize("bad, message", [
    ('{"subscribe":{"requestid":1}',
     "invalid JSON at line 1 column 28: '}' expected near end of file"),
    ("not json at all", "invalid JSON at line 1 column 3: invalid token near 'not'"),
    ('{"subscribe":{"requestid":1,"bogus":2}}', "subscribe.bogus: unknown field"),
    ('{"nosuchpayload":{}}', "nosuchpayload: unknown field"),
    ('{"subscribe":{"timeout":"soon"}}',
     'subscribe.timeout: expected an integer, got a string ("soon")'),
])
def test_encode_bad_line(bad, message):
    stdin = f"{GOLDEN_JSON}\n{bad}\n\n{GOLDEN_JSON}\n"
    p = run("encode", "--hex", stdin=stdin)
    assert p.returncode == 1
    assert out_lines(p) == [GOLDEN_HEX, GOLDEN_HEX]
    check_errors(p, {2: message})


def test_encode_oversize(pb):
    stdin = GOLDEN_JSON + "\n" + json.dumps(to_dict(msg_response(pb))) + "\n"
    p = run("encode", "--hex", "--max-payload", "16", stdin=stdin)
    assert p.returncode == 1
    assert out_lines(p) == [GOLDEN_HEX]
    check_errors(p, {2: "exceeds the limit of 16 bytes"})


def test_encode_binary_error():
    p = run("encode", stdin='{"subscribe":')
    assert p.returncode == 1
    assert p.stdout == b""
    assert err_lines(p) == [
        "mtcti3 encode: invalid JSON at line 1 column 13: unexpected token near end of file"]


# ---- help and usage ----

@pytest.mark.parametrize("sub, options", [
    ("decode", ["--hex", "--noframing", "--format", "--max-payload", "--help"]),
    ("encode", ["--hex", "--noframing", "--max-payload", "--help"]),
    ("help", ["--help"]),
])
def test_subcommand_help(sub, options):
    for argv in ([sub, "--help"], [sub, "-h"], ["help", sub]):
        p = run(*argv)
        assert p.returncode == 0, argv
        text = p.stdout.decode()
        assert text.startswith(f"Usage: mtcti3 {sub} "), text
        for opt in options:
            assert opt in text, (argv, opt)
        assert p.stderr == b""


def test_decode_help_lists_formats():
    text = run("decode", "--help").stdout.decode()
    for fmt in ("json", "text", "line"):
        assert re.search(rf"^\s+{fmt}\s+\S", text, re.M), fmt


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"]])
def test_main_help_lists_subcommands(argv):
    p = run(*argv)
    assert p.returncode == 0
    text = p.stdout.decode()
    for sub in ("decode", "encode", "help"):
        assert re.search(rf"^  {sub}\s+\S", text, re.M), sub


def test_version():
    p = run("--version")
    assert p.returncode == 0
    assert re.fullmatch(r"mtcti3 \d+\.\d+\.\d+\n", p.stdout.decode())


@pytest.mark.parametrize("argv, message", [
    ([], "Usage: mtcti3"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["decode", "--bogus"], "unknown option '--bogus'"),
    (["decode", "extra"], "unexpected argument 'extra'"),
    (["decode", "--format", "xml"], "--format wants one of json text line"),
    (["decode", "--format"], "option needs a value"),
    (["decode", "--max-payload", "-5"], "--max-payload wants a count"),
    (["decode", "--max-payload", "12k"], "--max-payload wants a count"),
    (["encode", "--hex=yes"], "option takes no value"),
    (["encode", "--format", "json"], "unknown option '--format'"),
    (["decode", "--form", "json"], "unknown option '--form'"),  # names whole, no abbreviations
    (["decode", "--help=yes"], "option takes no value '--help=yes'"),
    (["decode", "--", "--hex"], "unexpected argument '--hex'"),  # -- ends the options
    (["help", "frobnicate"], "unknown command 'frobnicate'"),
])
def test_usage_errors(argv, message):
    p = run(*argv, stdin=GOLDEN_HEX)
    assert p.returncode == 2, argv
    assert p.stdout == b""
    assert message in p.stderr.decode()
