"""Real test services: a single-node KRaft Apache Kafka broker and a
redis-server, each on 127.0.0.1 and on free ports picked at run time.

Used by the pytest fixtures in tests/lib/fixtures.py and by benchmark
scripts; also runnable by hand for debugging:

    tests/.work/venv/bin/python tests/lib/services.py kafka [--workdir DIR]
    tests/.work/venv/bin/python tests/lib/services.py redis [--workdir DIR]

Environment:
  MTCTI3_KAFKA_JARS       dir of the broker jars (default: what
                          tests/lib/kafka-jars.sh prints, fetched on first use)
  MTCTI3_KAFKA_HEAP       broker JVM heap options (default "-Xms256m -Xmx512m")
  MTCTI3_KAFKA_JAVA_OPTS  extra JVM options for the broker
  MTCTI3_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 90)
  JAVA_HOME / JAVA        java to run (default: $JAVA, $JAVA_HOME/bin/java, java)
  MTCTI3_REDIS_SERVER     redis-server binary (default: redis-server on PATH)

Every service writes its log into its workdir (kafka.log, redis.log); a
failed start raises ServiceError carrying the last 30 lines of that log.
"""
from __future__ import annotations

import base64
import contextlib
import os
import pathlib
import random
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

TOP = pathlib.Path(__file__).resolve().parent.parent.parent
KAFKA_JARS_SH = TOP / "tests" / "lib" / "kafka-jars.sh"


class ServiceError(RuntimeError):
    """A service failed to start or stop; the message holds its log tail."""


# --------------------------------------------------------------------------
# helpers

def wait_for(cond: Callable[[], object], timeout: float = 10.0,
             interval: float = 0.1, what: Optional[str] = None):
    """Poll cond() until it returns a truthy value, which is returned.

    Exceptions raised by cond count as "not yet".  Raises TimeoutError once
    the deadline passes (mentioning the last exception, if any)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
            last_exc = None
        except Exception as e:  # noqa: BLE001 - polling
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:g}s waiting for {what or cond}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise TimeoutError(msg)
        time.sleep(interval)


# Ports are picked below the Linux ephemeral range (32768-60999 by default):
# a service that is stopped and restarted on the same port must not find it
# taken meanwhile by some client's outgoing connection.
_PORT_LO, _PORT_HI = 20000, 32000
_handed_out: set[int] = set()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    # Nobody listening either (a bind can succeed over a TIME_WAIT socket).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that this process has
    not handed out before."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_PORT_LO, _PORT_HI)
        if port not in _handed_out and _port_free(port):
            _handed_out.add(port)
            return port
    # Fall back on the kernel's choice.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _handed_out.add(port)
    return port


def tail(path: os.PathLike, n: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(lines[-n:])


def _set_pdeathsig():
    """In the child: get SIGTERM when the parent (test runner) dies, so a
    crashed pytest leaves no broker behind.  Linux only; best effort.
    Note: the signal follows the *thread* that started the service, so
    start services from a thread that outlives them (e.g. the main one)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


class _Process:
    """Common start/stop/kill handling of one server process."""

    name = "service"

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.workdir / f"{self.name}.log"

    # subclass API
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self):
        pass

    def _env(self):
        return None

    start_timeout = 30.0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.running else None

    # Ports were picked by free_port() (not given by the caller): on the
    # first start, a port taken meanwhile by another process is replaced.
    _ports_picked = False
    _started_once = False

    def _new_ports(self):
        raise NotImplementedError

    def start(self, timeout: Optional[float] = None):
        """Start the server and wait until it answers; returns self."""
        for attempt in range(3):
            try:
                log_at = self.log_path.stat().st_size
            except OSError:
                log_at = 0
            try:
                self._start(timeout)
                break
            except ServiceError:
                if (self._started_once or not self._ports_picked
                        or attempt == 2):
                    raise
                with open(self.log_path, "rb") as f:
                    f.seek(log_at)
                    if b"in use" not in f.read():
                        raise
                self._new_ports()
        self._started_once = True
        return self

    def _start(self, timeout: Optional[float] = None):
        if self.running:
            return self
        self._prepare()
        cmd = self._command()
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%F %T')} start: {shlex.join(cmd)}\n"
                      .encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, env=self._env(),
                preexec_fn=_set_pdeathsig)
        t0 = time.monotonic()
        deadline = t0 + (timeout or self.start_timeout)
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise ServiceError(
                    f"{self.name} exited with status {rc} while starting; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}")
            try:
                if self._ready():
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() >= deadline:
                self.kill()
                raise ServiceError(
                    f"{self.name} did not answer within "
                    f"{timeout or self.start_timeout:g}s; last lines of "
                    f"{self.log_path}:\n{tail(self.log_path)}")
            time.sleep(0.2)
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self, timeout: float = 30.0):
        """SIGTERM, then SIGKILL if still running after timeout seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """SIGKILL: a crash, no clean shutdown."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, down_for: float = 0.0):
        self.stop()
        if down_for:
            time.sleep(down_for)
        return self.start()

    @contextlib.contextmanager
    def stopped(self, kill: bool = False):
        """with svc.stopped(): ...  -- the server is down inside the block and
        started again (same ports, same data) on leaving it, even on error."""
        self.kill() if kill else self.stop()
        try:
            yield self
        finally:
            self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------
# Kafka

def kafka_jars() -> pathlib.Path:
    """The broker's jar dir, fetched with Maven on first use."""
    r = subprocess.run(["bash", str(KAFKA_JARS_SH)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise ServiceError(f"{KAFKA_JARS_SH} failed:\n{r.stderr[-4000:]}")
    return pathlib.Path(r.stdout.strip().splitlines()[-1])


def _java() -> str:
    if os.environ.get("JAVA"):
        return os.environ["JAVA"]
    jh = os.environ.get("JAVA_HOME")
    if jh and os.access(os.path.join(jh, "bin", "java"), os.X_OK):
        return os.path.join(jh, "bin", "java")
    j = shutil.which("java")
    if not j:
        raise ServiceError("no java on PATH (install openjdk-17-jre-headless)")
    return j


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: list = field(default_factory=list)  # [(str, bytes|None)]
    timestamp: int = 0  # ms


_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.log.LogCleaner=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
"""


class KafkaBroker(_Process):
    """A real single-node KRaft Kafka broker (broker+controller, node.id 1).

        b = KafkaBroker(tmpdir).start()
        b.bootstrap            -> "127.0.0.1:PORT"
        b.create_topic("t", 3) ; b.consume_all("t")
        b.stop(); b.start()    -> same ports, same data
        with b.stopped(): ...  -> down inside the block

    extra_config: dict of server.properties overrides."""

    name = "kafka"
    start_timeout = float(os.environ.get("MTCTI3_KAFKA_START_TIMEOUT", "90"))

    def __init__(self, workdir, extra_config: Optional[dict] = None,
                 port: Optional[int] = None,
                 controller_port: Optional[int] = None):
        super().__init__(workdir)
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self._ports_picked = port is None and controller_port is None
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "server.properties"
        self.extra_config = dict(extra_config or {})
        self.cluster_id = base64.urlsafe_b64encode(
            uuid.uuid4().bytes).decode().rstrip("=")
        self._jars: Optional[pathlib.Path] = None
        self._admin = None

    def _new_ports(self):
        self.port, self.controller_port = free_port(), free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def config(self) -> dict:
        c = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (f"PLAINTEXT://127.0.0.1:{self.port},"
                          f"CONTROLLER://127.0.0.1:{self.controller_port}"),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map":
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # 50 by default: creating them slows the first consumer group.
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "5",
            "group.initial.rebalance.delay.ms": "0",
            # After a kill (SIGKILL) the restarted broker cannot register
            # until its old incarnation's session expired (9 s by default).
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.retention.hours": "168",
            # Compaction visible within seconds in tests that look for it.
            "log.cleaner.backoff.ms": "1000",
        }
        c.update({k: str(v) for k, v in self.extra_config.items()})
        return c

    def _write_config(self):
        self.config_path.write_text(
            "".join(f"{k}={v}\n" for k, v in self.config().items()))
        (self.workdir / "log4j.properties").write_text(_LOG4J)

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        heap = os.environ.get("MTCTI3_KAFKA_HEAP", "-Xms256m -Xmx512m").split()
        extra = os.environ.get("MTCTI3_KAFKA_JAVA_OPTS", "").split()
        return [_java(), *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
                f"-Dkafka.logs.dir={self.workdir}", *extra,
                "-cp", f"{self._jars}/*", main, *args]

    def _prepare(self):
        if self._jars is None:
            self._jars = kafka_jars()
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            cmd = self._java_cmd("kafka.tools.StorageTool", "format",
                                 # one argument: an id may start with "-"
                                 f"--cluster-id={self.cluster_id}",
                                 "-c", str(self.config_path))
            # A short-lived tool: the C1 compiler alone starts faster.
            cmd[1:1] = ["-XX:TieredStopAtLevel=1"]
            with open(self.log_path, "ab") as log:
                log.write(f"==== format: {shlex.join(cmd)}\n".encode())
                log.flush()
                r = subprocess.run(cmd, cwd=self.workdir, stdout=log,
                                   stderr=subprocess.STDOUT, timeout=120)
            if r.returncode != 0:
                raise ServiceError(
                    f"kafka-storage format failed ({r.returncode}); last lines "
                    f"of {self.log_path}:\n{tail(self.log_path)}")

    def _command(self):
        return self._java_cmd("kafka.Kafka", str(self.config_path))

    def _ready(self) -> bool:
        # The broker answers metadata requests and lists itself.
        from confluent_kafka.admin import AdminClient
        a = AdminClient({"bootstrap.servers": self.bootstrap,
                         "socket.connection.setup.timeout.ms": 1000,
                         "reconnect.backoff.max.ms": 200,
                         "log_level": 0})
        md = a.list_topics(timeout=2)
        return 1 in md.brokers

    def start(self, timeout: Optional[float] = None):
        self._admin = None
        return super().start(timeout)

    def stop(self, timeout: float = 30.0):
        self._admin = None
        super().stop(timeout)

    def kill(self):
        self._admin = None
        super().kill()

    # ---- client helpers -------------------------------------------------
    def client_config(self, **extra) -> dict:
        c = {"bootstrap.servers": self.bootstrap}
        c.update(extra)
        return c

    def admin(self):
        from confluent_kafka.admin import AdminClient
        if self._admin is None:
            self._admin = AdminClient(self.client_config())
        return self._admin

    def producer(self, **conf):
        from confluent_kafka import Producer
        return Producer(self.client_config(**conf))

    def create_topic(self, name: str, partitions: int = 1,
                     compacted: bool = False, config: Optional[dict] = None,
                     timeout: float = 30.0):
        """Create a topic (replication factor 1) and wait until every
        partition has a leader."""
        from confluent_kafka.admin import NewTopic
        cfg = dict(config or {})
        if compacted:
            cfg.setdefault("cleanup.policy", "compact")
        nt = NewTopic(name, num_partitions=partitions, replication_factor=1,
                      config={k: str(v) for k, v in cfg.items()})
        fut = self.admin().create_topics([nt], operation_timeout=timeout,
                                         request_timeout=timeout)[name]
        fut.result(timeout)

        def ready():
            md = self.admin().list_topics(topic=name, timeout=5)
            t = md.topics.get(name)
            return (t is not None and t.error is None
                    and len(t.partitions) == partitions
                    and all(p.leader >= 0 for p in t.partitions.values()))
        wait_for(ready, timeout, 0.1, f"topic {name} to have leaders")

    def client_quota(self, client_id: str, **rates):
        """Set a client-id quota (consumer_byte_rate=..., producer_byte_rate=...)
        with Kafka's own kafka-configs tool: the broker then throttles that
        client (a slow Kafka, for tests)."""
        if self._jars is None:
            self._jars = kafka_jars()
        cmd = self._java_cmd("kafka.admin.ConfigCommand", "--bootstrap-server", self.bootstrap, "--alter",
                             "--add-config", ",".join(f"{k}={v}" for k, v in rates.items()),
                             "--entity-type", "clients", "--entity-name", client_id)
        cmd[1:1] = ["-XX:TieredStopAtLevel=1"]  # a short-lived tool: the C1 compiler alone starts faster
        r = subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise ServiceError(f"kafka-configs failed ({r.returncode}): {r.stdout}{r.stderr}")

    def delete_topic(self, name: str, timeout: float = 30.0):
        self.admin().delete_topics([name], operation_timeout=timeout)[
            name].result(timeout)

    def topic_config(self, name: str, timeout: float = 10.0) -> dict:
        """{config name: value} of a topic, from describe_configs."""
        from confluent_kafka.admin import ConfigResource, ResourceType
        res = ConfigResource(ResourceType.TOPIC, name)
        got = self.admin().describe_configs([res], request_timeout=timeout)
        entries = got[res].result(timeout)
        return {k: v.value for k, v in entries.items()}

    def consume_all(self, topic: str, timeout: float = 10.0,
                    expect: Optional[int] = None,
                    partitions: Optional[list] = None) -> list[Message]:
        """Read a topic from the beginning, without a consumer group.

        Without expect: returns once every partition reached its end (or on
        timeout, with what was read).  With expect=N: keeps reading until at
        least N messages came (for output that is still being produced),
        else raises TimeoutError.  Order is the log order within each
        partition; partitions follow one another by number."""
        from confluent_kafka import (Consumer, KafkaError, TopicPartition,
                                     OFFSET_BEGINNING)
        c = Consumer(self.client_config(**{
            "group.id": f"consume-all-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }))
        deadline = time.monotonic() + timeout
        try:
            if partitions is None:
                def parts():
                    md = c.list_topics(topic, timeout=5)
                    t = md.topics.get(topic)
                    if t is None or t.error is not None or not t.partitions:
                        return None
                    return sorted(t.partitions)
                partitions = wait_for(parts, max(0.1, deadline - time.monotonic()),
                                      0.1, f"topic {topic} metadata")
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                      for p in partitions])
            out: list[Message] = []
            at_eof: set[int] = set()
            while True:
                left = deadline - time.monotonic()
                done_eof = len(at_eof) == len(partitions)
                if expect is None and done_eof:
                    break
                if expect is not None and len(out) >= expect and done_eof:
                    break
                if left <= 0:
                    if expect is not None and len(out) < expect:
                        raise TimeoutError(
                            f"consume_all({topic}): {len(out)} of {expect} "
                            f"messages within {timeout:g}s")
                    break
                m = c.poll(min(left, 0.5))
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        at_eof.add(m.partition())
                        continue
                    raise RuntimeError(f"consume_all({topic}): {m.error()}")
                at_eof.discard(m.partition())
                out.append(Message(
                    topic=m.topic(), partition=m.partition(),
                    offset=m.offset(), key=m.key(), value=m.value(),
                    headers=list(m.headers() or []),
                    timestamp=m.timestamp()[1]))
        finally:
            c.close()
        out.sort(key=lambda x: (x.partition, x.offset))
        return out


# --------------------------------------------------------------------------
# Redis

class RedisServer(_Process):
    """A real redis-server on 127.0.0.1.

    No persistence unless appendonly=True (AOF with fsync every write, in the
    workdir), for tests that restart it and expect the data back."""

    name = "redis"
    start_timeout = 20.0

    def __init__(self, workdir, appendonly: bool = False,
                 port: Optional[int] = None, extra_args: Optional[list] = None):
        super().__init__(workdir)
        self.port = port or free_port()
        self._ports_picked = port is None
        self.appendonly = appendonly
        self.extra_args = list(extra_args or [])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def _new_ports(self):
        self.port = free_port()

    def _command(self):
        exe = os.environ.get("MTCTI3_REDIS_SERVER") or shutil.which(
            "redis-server") or "/usr/bin/redis-server"
        args = [exe, "--bind", "127.0.0.1", "--port", str(self.port),
                "--protected-mode", "yes", "--daemonize", "no",
                "--dir", str(self.workdir), "--logfile", "",
                "--save", "", "--databases", "16"]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args + self.extra_args

    def _ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def client(self, **kw):
        import redis
        return redis.Redis.from_url(self.url, **kw)


# --------------------------------------------------------------------------
# by hand

def _main(argv=None):
    import argparse
    import tempfile
    ap = argparse.ArgumentParser(
        description="Run a test service in the foreground until Ctrl-C.")
    ap.add_argument("service", choices=["kafka", "redis"])
    ap.add_argument("--workdir", help="default: a new temp dir (kept)")
    ap.add_argument("--port", type=int)
    ap.add_argument("--appendonly", action="store_true", help="redis: AOF on")
    a = ap.parse_args(argv)
    wd = a.workdir or tempfile.mkdtemp(prefix=f"mtcti3-{a.service}-")
    if a.service == "kafka":
        svc = KafkaBroker(wd, port=a.port)
        svc.start()
        print(f"kafka up in {svc.start_seconds:.1f}s: bootstrap {svc.bootstrap}"
              f"  workdir {wd}  log {svc.log_path}", flush=True)
    else:
        svc = RedisServer(wd, appendonly=a.appendonly, port=a.port)
        svc.start()
        print(f"redis up: {svc.url}  workdir {wd}  log {svc.log_path}",
              flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop and svc.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        svc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
