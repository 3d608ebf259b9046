"""The example of clients/python/README.md runs as written against a real
bridge (its first python block, with the bridge's bootstrap and prefix in
the environment), and prints what the README says it prints."""
import os
import re
import subprocess
import sys

from testenv import TOP


def test_readme_example(sim, kafka, bridge):
    text = (TOP / "clients" / "python" / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    sim.ctl("PATCH", "/users/2001", {"dnd": False})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MTCTI3_KAFKA_BOOTSTRAP": kafka.bootstrap,
                              "MTCTI3_TOPIC_PREFIX": bridge.prefix})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    status, code_name, latency = lines[0].split()
    assert (status, code_name) == ("succeeded", "MTCTISESS_SUCCESS") and int(latency) >= 0
    assert lines[1] == "no_target"
    users = {u["guid"]: u for u in sim.model()["users"]}
    assert sorted(lines[2:]) == sorted(f"user:{g} {u['extn']} {u['dnd']} idle" for g, u in users.items())
    assert users[sim.user_guid("2001")]["dnd"] is True
