"""Fixtures of the ipo-sim suites (helpers in simlib.py)."""
import pytest

from simlib import Sim


@pytest.fixture
def sim():
    s = Sim("--users", "20", "--queues", "3", "--seed", "1", "--ring-ms", "300")
    yield s
    alive = s.alive()
    s.stop()
    assert alive, f"ipo-sim died: {s.tail()}"
    assert s.proc.returncode == 0, f"ipo-sim exit {s.proc.returncode}: {s.tail()}"


@pytest.fixture
def sim_factory():
    sims = []

    def make(*args, **kw):
        s = Sim(*args, **kw)
        sims.append(s)
        return s
    yield make
    for s in sims:
        alive = s.alive()
        s.stop()
        assert alive, f"ipo-sim died: {s.tail()}"

