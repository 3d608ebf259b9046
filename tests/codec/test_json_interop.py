"""The codec's proto3 JSON mapping against the official Python protobuf runtime.

Scenarios, on 500 seeded random messages covering every Message payload kind
(negative and extreme int32, unicode strings, empty and non-empty bytes,
enums by name and unnamed numbers, set oneof members holding defaults, empty
submessages, repeated fields):
  - decode: the protobuf bytes through `mtcti3 decode --hex --noframing` print
    the JSON the official printer prints (preserving_proto_field_name), with
    the same keys in the same order;
  - encode: the official printer's JSON (original names, lowerCamelCase
    names, enums as numbers, ASCII-escaped or not) through
    `mtcti3 encode --hex --noframing` gives bytes that parse back to an equal
    message, and equal SerializeToString(deterministic=True) byte for byte.
"""
import json
import random
import re
import subprocess

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as FD

from testenv import binary

SEED = 0x3C713
COUNT = 500
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def run(*args, stdin):
    p = subprocess.run([str(binary("mtcti3")), *args], input=stdin.encode(),
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[:2000]
    assert p.stderr == b""
    # Split on "\n" only: str.splitlines() also splits at U+2028 and friends,
    # which JSON strings may carry raw.
    text = p.stdout.decode()
    assert text == "" or text.endswith("\n")
    return text.split("\n")[:-1] if text else []


# ---- random messages ----

def rand_int32(rng):
    return rng.choice([
        0, 1, -1, INT32_MIN, INT32_MAX, 127, 128, -129,
        rng.randint(-1000, 1000),
        rng.randint(INT32_MIN, INT32_MAX),
        rng.randint(INT32_MIN, INT32_MAX),
    ])


def rand_char(rng):
    pool = rng.randrange(6)
    if pool == 0:
        return chr(rng.randint(0x20, 0x7e))           # printable ASCII, '"' and '\\' too
    if pool == 1:
        return rng.choice('"\\/\b\f\n\r\t\x01\x1f\x7f')
    if pool == 2:
        return chr(rng.randint(0xa0, 0x7ff))          # 2-octet UTF-8
    if pool == 3:
        while True:                                   # 3-octet, no surrogates
            c = rng.randint(0x800, 0xfffd)
            if not 0xd800 <= c <= 0xdfff:
                return chr(c)
    if pool == 4:
        return chr(rng.randint(0x10000, 0x10ffff))    # 4-octet (astral)
    return rng.choice("aé✓📞")


def rand_string(rng):
    # No U+0000: protobuf-c keeps strings as C strings, which end there.
    return "".join(rand_char(rng) for _ in range(rng.choice([0, 1, 3, 8, 20])))


def rand_bytes(rng):
    return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 3, 4, 16, 33])))


def rand_enum(rng, enum_type):
    named = [v.number for v in enum_type.values]
    if rng.random() < 0.2:
        return rng.choice([77, 1000, -3, INT32_MAX, INT32_MIN])  # numbers without names
    return rng.choice(named)


def rand_scalar(rng, field):
    t = field.type
    if t == FD.TYPE_INT32:
        return rand_int32(rng)
    if t == FD.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FD.TYPE_STRING:
        return rand_string(rng)
    if t == FD.TYPE_BYTES:
        return rand_bytes(rng)
    if t == FD.TYPE_ENUM:
        return rand_enum(rng, field.enum_type)
    raise AssertionError(f"field type {t} of {field.full_name} not in the generator")


def fill(msg, rng, depth=0):
    """Set a random selection of msg's fields to random values (defaults too)."""
    desc = msg.DESCRIPTOR
    chosen = {o.name: rng.choice(list(o.fields) + [None]) for o in desc.oneofs}
    for field in desc.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen[oneof.name] is not field:
            continue
        # Outside oneofs leave about a third of the fields alone.
        if oneof is None and rng.random() < 0.3:
            continue
        if field.label == FD.LABEL_REPEATED:
            items = getattr(msg, field.name)
            for _ in range(rng.choice([0, 1, 2, 3])):
                if field.type == FD.TYPE_MESSAGE:
                    fill(items.add(), rng, depth + 1)
                else:
                    items.append(rand_scalar(rng, field))
        elif field.type == FD.TYPE_MESSAGE:
            sub = getattr(msg, field.name)
            sub.SetInParent()                          # set, even if left empty
            if depth < 8 and rng.random() < 0.85:
                fill(sub, rng, depth + 1)
        elif oneof is not None and rng.random() < 0.3:
            # A set oneof member holding its default is still printed.
            setattr(msg, field.name, field.default_value)
        else:
            setattr(msg, field.name, rand_scalar(rng, field))


def random_messages(pb):
    rng = random.Random(SEED)
    kinds = [f.name for f in pb.Message.DESCRIPTOR.oneofs_by_name["payload"].fields]
    msgs = []
    for i in range(COUNT):
        m = pb.Message()
        getattr(m, kinds[i % len(kinds)]).SetInParent()   # every payload kind in turn
        fill(getattr(m, kinds[i % len(kinds)]), rng)
        msgs.append(m)
    return msgs


def official_json(m, **kw):
    return json_format.MessageToJson(m, preserving_proto_field_name=kw.pop("proto_names", True),
                                     indent=None, **kw)


def ordered(text):
    """Parsed JSON with objects as lists of pairs: equality checks key order too."""
    return json.loads(text, object_pairs_hook=list)


# ---- the generator itself covers what it should ----

def test_generator_covers_the_cases(pb):
    msgs = random_messages(pb)
    assert len({m.WhichOneof("payload") for m in msgs}) == 9
    joined = "\n".join(json.dumps(json.loads(official_json(m)), separators=(",", ":"))
                       for m in msgs)
    assert '":-' in joined                     # negative numbers
    assert ":-2147483648" in joined
    assert ":2147483647" in joined
    assert '"timeout":0' in joined             # oneof members holding their default
    assert '"versioninfo":""' in joined
    assert '"getversioninfo":false' in joined
    assert ":{}" in joined                     # empty submessages
    assert ":77" in joined                     # enum numbers without a name
    assert '":"' in joined and '":""' not in joined.replace('"versioninfo":""', "")
    assert "\\ud8" in joined                  # astral characters (surrogate pairs)
    assert '==' in joined                      # padded base64


# ---- decode: protobuf -> our JSON == the official printer's ----

def test_decode_matches_official_printer(pb):
    msgs = random_messages(pb)
    out = run("decode", "--hex", "--noframing",
              stdin="".join(m.SerializeToString().hex() + "\n" for m in msgs))
    assert len(out) == len(msgs)
    for i, (m, line) in enumerate(zip(msgs, out)):
        want = official_json(m)
        assert ordered(line) == ordered(want), (
            f"message {i}: {m.SerializeToString().hex()}\n ours:     {line}\n official: {want}")


def test_decode_is_compact_official_text(pb):
    # Beyond equal values: the same text as json.dumps of the official
    # printer's dict with compact separators.  The one difference allowed is
    # the case of hex digits in \u escapes (jansson writes \u001F).
    msgs = random_messages(pb)
    out = run("decode", "--hex", "--noframing",
              stdin="".join(m.SerializeToString().hex() + "\n" for m in msgs))
    assert len(out) == len(msgs)
    for i, (m, line) in enumerate(zip(msgs, out)):
        d = json_format.MessageToDict(m, preserving_proto_field_name=True)
        want = json.dumps(d, separators=(",", ":"), ensure_ascii=False)
        line = re.sub(r"\\u[0-9A-F]{4}", lambda u: u.group(0).lower(), line)
        assert line == want, f"message {i}\n ours:     {line}\n official: {want}"


# ---- encode: the official printer's JSON -> our protobuf == Python's ----

def check_encode(pb, msgs, texts):
    out = run("encode", "--hex", "--noframing", stdin="".join(t + "\n" for t in texts))
    assert len(out) == len(msgs)
    for i, (m, text, line) in enumerate(zip(msgs, texts, out)):
        got = bytes.fromhex(line)
        back = pb.Message.FromString(got)
        assert back == m, f"message {i}: {text}\n ours: {line}"
        assert got == m.SerializeToString(deterministic=True), (
            f"message {i}: {text}\n ours:   {line}\n python: "
            f"{m.SerializeToString(deterministic=True).hex()}")


def test_encode_original_names(pb):
    msgs = random_messages(pb)
    check_encode(pb, msgs, [official_json(m) for m in msgs])


def test_encode_camel_case_names(pb):
    msgs = random_messages(pb)
    check_encode(pb, msgs, [official_json(m, proto_names=False) for m in msgs])


def test_encode_enums_as_numbers_and_raw_utf8(pb):
    msgs = random_messages(pb)
    check_encode(pb, msgs, [official_json(m, use_integers_for_enums=True, ensure_ascii=False)
                            for m in msgs])


def test_encode_what_the_official_parser_reads_back(pb):
    # The round trip closes: official text -> our bytes -> official parser ->
    # official text, unchanged.
    msgs = random_messages(pb)[:100]
    texts = [official_json(m) for m in msgs]
    out = run("encode", "--hex", "--noframing", stdin="".join(t + "\n" for t in texts))
    for text, line in zip(texts, out):
        back = pb.Message.FromString(bytes.fromhex(line))
        assert official_json(back) == text
        assert json_format.Parse(text, pb.Message()) == back
