"""ipo-sim for a test harness: one simulator process (or a resilient pair,
``--secondary``) on free ports, read from its ready file; its control API;
MTCTI3 sessions over real TLS; failing and restoring a system of a pair.

    sim = IpoSim("--users", "20", "--secondary", "127.0.0.1:0")
    sim.systems["secondary"]["url"]          # wss://127.0.0.1:<port>/tpkt/openapi
    client = await sim.client(pb, "secondary")
    sim.fail("primary")                      # {"queues_on": "secondary", "moved": 1, ...}
    sim.restore("primary")
    sim.stop()

Used by tests/sim (simlib.Sim is this class); any suite may use it.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from testenv import WORK, binary  # noqa: E402

sys.path.insert(0, str(WORK / "py"))

from mtcti3_client import Mtcti3Client  # noqa: E402

PASSWORD = "sim-test-password"


class IpoSim:
    """One running ipo-sim process: one IP Office, or a resilient pair with --secondary."""

    def __init__(self, *args, env=None):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="ipo-sim-test-"))
        self.ready = self.dir / "ready.json"
        self.log_path = self.dir / "sim.log"
        tls = [] if "--cert" in args else ["--tls-dir", str(self.dir / "tls")]
        self.args = [str(binary("ipo-sim")), "--listen", "127.0.0.1:0", "--control",
                     "127.0.0.1:0", "--ready-file", str(self.ready), *tls, "--log-level",
                     "debug", *args]
        e = dict(os.environ)
        e["IPO_SIM_PASSWORD"] = PASSWORD
        e.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        deadline = time.monotonic() + 15
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"ipo-sim exited {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ipo-sim not ready: {self.tail()}")
            time.sleep(0.02)
        info = json.loads(self.ready.read_text())
        self.wss_port = info["wss_port"]
        self.control_port = info["control_port"]
        self.ca_file = info["ca_file"]
        self.pid = info["pid"]
        self.url = f"wss://127.0.0.1:{self.wss_port}/tpkt/openapi"
        # name -> {"name", "wss_port", "url"}: "primary", and "secondary" with --secondary.
        self.systems = {s["name"]: s for s in info["systems"]}

    def tail(self, n=4000):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def ctl(self, method, path, body=None, expect=None):
        """Call the control API; returns (status, json)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        out = json.loads(text) if text else None
        if expect is not None:
            assert status == expect, f"{method} {path} -> {status} {out}"
        return status, out

    def model(self):
        return self.ctl("GET", "/model", expect=200)[1]

    def user(self, extn):
        return next(u for u in self.model()["users"] if u["extn"] == extn)

    def queue(self, extn):
        return next(q for q in self.model()["queues"] if q["extn"] == extn)

    async def client(self, pb, system="primary", **kw):
        """An MTCTI3 session with a system (the primary, or the secondary of a pair)."""
        kw.setdefault("cafile", self.ca_file)
        return await Mtcti3Client.connect(self.systems[system]["url"], kw.pop("user", "mtcti3"),
                                          kw.pop("password", PASSWORD), pb, **kw)

    def fail(self, system="primary"):
        """Fail a system of a pair; returns the control API's answer."""
        return self.ctl("POST", f"/systems/{system}/fail", {}, expect=200)[1]

    def restore(self, system="primary"):
        return self.ctl("POST", f"/systems/{system}/restore", {}, expect=200)[1]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
