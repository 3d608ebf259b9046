"""Fixtures of the Python client's tests: one simulator and one bridge (with
Redis, so commands run) per module, on a topic prefix of their own, on the
session's real Kafka broker.  The classes are tests/bridge/bridgelib.py's."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bridge"))

from bridgelib import Bridge, Sim  # noqa: E402


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("client-sim"), users=5, queues=2).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def bridge(tmp_path_factory, sim, kafka, redis_server):
    b = Bridge(tmp_path_factory.mktemp("client-bridge"), sim, kafka.bootstrap,
               redis_url=redis_server.url).start()
    yield b
    b.stop()


@pytest.fixture
def client(kafka, bridge):
    from mtcti3_bridge import Client
    c = Client(kafka.bootstrap, prefix=bridge.prefix, pbx=bridge.pbx_id)
    yield c
    c.close()
