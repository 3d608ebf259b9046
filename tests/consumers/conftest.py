"""Fixtures of the consumer proofs: `batch`, the events of one real bridge
run (consumerlib.py says what it holds)."""
import pathlib
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bridge"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bridgelib import Bridge, Sim  # noqa: E402
from consumerlib import EVENT_TOPICS, Batch, _scenario, _total  # noqa: E402
from services import wait_for  # noqa: E402


@pytest.fixture(scope="session")
def batch(tmp_path_factory, kafka, redis_server):
    from mtcti3_bridge import Client
    sim = Sim(tmp_path_factory.mktemp("batch-sim"), users=6, queues=2).start()
    bridge = Bridge(tmp_path_factory.mktemp("batch-bridge"), sim, kafka.bootstrap,
                    redis_url=redis_server.url)
    try:
        bridge.start()
        with Client(kafka.bootstrap, prefix=bridge.prefix, pbx=bridge.pbx_id) as client:
            ids = _scenario(sim, client)
        topics = [bridge.prefix + t for t in EVENT_TOPICS + ("command-results",)]
        # settled: nothing new on any topic for 2 s
        last = [None, time.monotonic()]

        def quiet():
            n = _total(kafka, topics)
            if n != last[0]:
                last[:] = [n, time.monotonic()]
            return time.monotonic() - last[1] >= 2.0
        wait_for(quiet, 30, 0.25, "the bridge's topics to settle")
        sim_calls = sim.ctl("GET", "/calls")["calls"]
        model = sim.model()
    finally:
        bridge.stop()
        sim.stop()
    md = kafka.admin().list_topics(timeout=10)
    names = [t for t in md.topics if t.startswith(bridge.prefix)]
    messages = {t[len(bridge.prefix):]: kafka.consume_all(t) for t in names}
    return Batch(prefix=bridge.prefix, pbx=bridge.pbx_id, bootstrap=kafka.bootstrap, sim_calls=sim_calls,
                 model=model, messages=messages,
                 partitions={t: len(md.topics[t].partitions) for t in names}, command_ids=ids)

