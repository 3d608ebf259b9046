"""pytest plugin: session-scoped real services for the integration tests.

Loaded from tests/conftest.py with   from fixtures import *
(tests/lib is on sys.path there; `pytest_plugins = ["fixtures"]` does NOT
work: pytest's own built-in plugin is already registered as "fixtures", so
pytest would silently skip this module).  Fixtures:

  kafka         a KafkaBroker (tests/lib/services.py), started on first use
                only -- tests that do not ask for it do not pay its start --
                and stopped at session end.  A test that stops it must start
                it again (use `with kafka.stopped(): ...`); if a test leaves it
                down anyway, the next test asking for `kafka` restarts it.
  redis_server  a RedisServer without persistence, same life cycle.
  kafka_topic   a factory: kafka_topic(partitions=1, compacted=False) makes a
                new uniquely named topic on the session broker, returns its name.
  service_workdir  a factory for a fresh workdir of an own, private service:
                KafkaBroker(service_workdir("kafka2")), RedisServer(...).

Logs: <pytest basetemp>/services-*/kafka.log, redis.log (pytest keeps the
last three runs' basetemp; a failed start puts the log tail in the error).
"""
import uuid

import pytest

from services import KafkaBroker, RedisServer

__all__ = ["service_workdir", "_kafka_session", "_redis_session", "kafka",
           "redis_server", "_services_back_up", "kafka_topic"]


@pytest.fixture(scope="session")
def service_workdir(tmp_path_factory):
    def make(name="service"):
        return tmp_path_factory.mktemp(f"services-{name}", numbered=True)
    return make


@pytest.fixture(scope="session")
def _kafka_session(service_workdir):
    broker = KafkaBroker(service_workdir("kafka"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def _redis_session(service_workdir):
    server = RedisServer(service_workdir("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka(_kafka_session):
    return _kafka_session.start()


@pytest.fixture(scope="session")
def redis_server(_redis_session):
    return _redis_session.start()


@pytest.fixture(autouse=True)
def _services_back_up(request):
    """Restart a session service that an earlier test left stopped (only
    for services this test asks for; never starts one that was not)."""
    for name, inner in (("kafka", "_kafka_session"),
                        ("redis_server", "_redis_session")):
        if name in request.fixturenames:
            svc = request.getfixturevalue(inner)
            if not svc.running:
                svc.start()
    yield


@pytest.fixture
def kafka_topic(kafka):
    def make(partitions=1, compacted=False, config=None, prefix="t"):
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        kafka.create_topic(name, partitions, compacted=compacted, config=config)
        return name
    return make
