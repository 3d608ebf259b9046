"""Fixtures of the wallboard's integration tests (helpers in wblib.py)."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bridge"))

from bridgelib import Bridge, Sim  # noqa: E402
from wblib import QueueStats, Wallboard  # noqa: E402


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "sim", users=5, queues=2).start()
    yield s
    s.stop()


@pytest.fixture
def make_bridge(tmp_path, kafka):
    made = []

    def make(sim, **kw):
        b = Bridge(tmp_path / f"bridge{len(made)}", sim, kafka.bootstrap, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.fixture
def make_stats(kafka):
    made = []

    def make(bridge):
        s = QueueStats(kafka.bootstrap, bridge.prefix)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def make_wallboard(tmp_path, kafka):
    made = []

    def make(topics, extra=()):
        w = Wallboard(tmp_path / f"wallboard{len(made)}", kafka.bootstrap, topics, extra).start()
        made.append(w)
        return w
    yield make
    for w in made:
        w.stop()
