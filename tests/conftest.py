"""Shared pytest fixtures: where the build is, the Python protobuf module
generated from proto/ipo_mtcti3.proto (an independent proto3 implementation),
and the real Kafka/Redis services.  Paths and helpers live in
tests/lib/testenv.py; import them from there, not from conftest.
"""
import pathlib
import sys

import pytest

_lib = pathlib.Path(__file__).resolve().parent / "lib"
sys.path.insert(0, str(_lib))

from testenv import BUILD, TOP, WORK, binary  # noqa: E402,F401

sys.path.insert(0, str(WORK / "py"))

# Real Kafka/Redis services (tests/lib/fixtures.py): kafka, redis_server, ...
from fixtures import *  # noqa: E402,F401,F403


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def pb():
    import ipo_mtcti3_pb2
    return ipo_mtcti3_pb2
