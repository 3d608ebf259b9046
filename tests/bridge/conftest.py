"""Fixtures of the bridge's integration tests (see bridgelib.py)."""
import pytest

from bridgelib import Bridge, Events, Sim


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "sim", users=5, queues=2).start()
    yield s
    s.stop()


@pytest.fixture
def make_bridge(tmp_path, kafka):
    made = []

    def make(sim, redis_url="", **kw):
        b = Bridge(tmp_path / f"bridge{len(made)}", sim, kafka.bootstrap, redis_url=redis_url, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.fixture
def make_events(kafka):
    made = []

    def make(bridge):
        e = Events(kafka.bootstrap, bridge.prefix)
        made.append(e)
        return e
    yield make
    for e in made:
        e.close()
