"""schemas/command.schema.json and command-result.schema.json: valid JSON
Schema 2020-12, accepting the commands the bridge accepts and refusing the
shapes it refuses (the C tests check the exact reasons)."""
import json

import jsonschema
import pytest

from testenv import TOP

COMMAND = json.loads((TOP / "schemas" / "command.schema.json").read_text())
RESULT = json.loads((TOP / "schemas" / "command-result.schema.json").read_text())
BUILD_TEST = (TOP / "tests" / "bridge_cmd" / "test_cmd_build.c").read_text()


def golden_commands():
    # The command column of test_cmd_build.c's golden table.
    out = []
    for line in BUILD_TEST.splitlines():
        line = line.strip()
        if line.startswith('{"{\\"id'):
            out.append(json.loads(json.loads(line[1:].rstrip(","))))
    return out


def test_schemas_are_valid():
    jsonschema.Draft202012Validator.check_schema(COMMAND)
    jsonschema.Draft202012Validator.check_schema(RESULT)


def test_golden_commands_validate():
    cmds = golden_commands()
    assert len(cmds) >= 25
    v = jsonschema.Draft202012Validator(COMMAND)
    for c in cmds:
        v.validate(c)


@pytest.mark.parametrize("cmd", [
    {"action": "get_version"},
    {"id": "a b", "action": "get_version"},
    {"id": "a", "action": "explode"},
    {"id": "a", "action": "get_version", "tagret": 1},
    {"id": "a", "action": "park", "target": {"user": "201"}, "call": {"callid": 1},
     "args": {"slot": "1234567890"}},
    {"id": "a", "action": "park", "target": {"user": "201"}, "call": {"callid": 1}},
    {"id": "a", "action": "drop", "target": {"user": "201"}},
    {"id": "a", "action": "hold", "target": {"queue": "Q"}, "call": {"callid": 1}},
    {"id": "a", "action": "get_version", "target": {"user": "201"}},
    {"id": "a", "action": "set_priority", "target": {"queue": "Q"}, "call": {"callid": 1},
     "args": {"priority": 4}},
    {"id": "a", "action": "drop", "target": {"user": "201"}, "call": {"callid": 1},
     "args": {"to": "1"}},
    {"id": "a", "action": "get_version", "reply_to": ".."},
])
def test_bad_commands_refused(cmd):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cmd, COMMAND)


def test_secret_arguments_are_write_only():
    secret = []
    for rule in COMMAND["allOf"]:
        name = rule["if"]["properties"]["action"]["const"]
        for arg, s in rule["then"]["properties"]["args"]["properties"].items():
            if s.get("writeOnly"):
                secret.append((name, arg))
    assert sorted(secret) == [("login_extn", "password"), ("make_call", "auth_code"),
                              ("set_auth_code", "code")]


def test_result_examples():
    base = {"id": "c", "status": "succeeded", "code": 0, "code_name": "MTCTISESS_SUCCESS",
            "reason": None, "requestid": 1073741824, "action": "drop", "latency_ms": 4,
            "data": None}
    jsonschema.validate(base, RESULT)
    jsonschema.validate(dict(base, status="rejected", code=None, code_name=None, requestid=None,
                             reason="bad_args: x", reason_code="bad_args"), RESULT)
    jsonschema.validate(dict(base, status="duplicate", original_status="failed"), RESULT)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(base, status="rejected"), RESULT)  # no reason_code
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(base, status="lost"), RESULT)


def test_result_headers_schema():
    """x-kafka-headers: the CloudEvents headers of a result, as docs/commands.md lists them."""
    headers = {"type": "object", "additionalProperties": False, **RESULT["x-kafka-headers"]}
    jsonschema.Draft202012Validator.check_schema(headers)
    v = jsonschema.Draft202012Validator(headers)
    good = {"ce_specversion": "1.0", "ce_id": "hq/command/crm-42:transfer-7", "ce_source": "/mtcti3/hq",
            "ce_type": "mtcti3.command.failed", "ce_time": "2026-11-25T10:48:42.123Z",
            "ce_subject": "crm-42:transfer-7", "content-type": "application/json"}
    v.validate(good)
    v.validate({**good, "ce_id": "hq/command/crm-42:transfer-7/duplicate/0/17", "ce_type": "mtcti3.command.duplicate"})
    no_id = {k: x for k, x in good.items() if k != "ce_subject"}
    v.validate({**no_id, "ce_id": "hq/command/-/0/3", "ce_type": "mtcti3.command.rejected"})
    for bad in ({**good, "ce_type": "mtcti3.command.accepted"}, {**good, "ce_id": "hq/crm-42"},
                {**good, "ce_time": "2026-11-25 10:48:42"}, {**good, "extra": "x"}, no_id | {"ce_id": 1}):
        assert not v.is_valid(bad), bad
    docs = (TOP / "docs" / "commands.md").read_text()
    table = docs[docs.index("### CloudEvents headers"):docs.index("## Redis")]
    assert sorted(h for h in RESULT["x-kafka-headers"]["properties"]) == sorted(
        line.split("`")[1] for line in table.splitlines() if line.startswith("| `"))
