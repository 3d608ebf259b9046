"""Shared pytest fixtures: where the build is, and the Python protobuf module
generated from proto/ipo_mtcti3.proto (an independent proto3 implementation).

Environment:
  MTCTI3_BUILD_DIR  the CMake build tree holding the binaries (default: build)
  MTCTI3_TEST_WORK  scratch space (default: tests/.work)
"""
import os
import sys
import pathlib

import pytest

TOP = pathlib.Path(__file__).resolve().parent.parent
WORK = pathlib.Path(os.environ.get("MTCTI3_TEST_WORK", TOP / "tests" / ".work"))
BUILD = pathlib.Path(os.environ.get("MTCTI3_BUILD_DIR", TOP / "build"))

sys.path.insert(0, str(WORK / "py"))
sys.path.insert(0, str(TOP / "tests" / "lib"))

# Real Kafka/Redis services (tests/lib/fixtures.py): kafka, redis_server, ...
from fixtures import *  # noqa: E402,F401,F403


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def pb():
    import ipo_mtcti3_pb2
    return ipo_mtcti3_pb2


def binary(name):
    """Path of a built binary, searched in the build tree."""
    for p in BUILD.rglob(name):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(f"{name} not built under {BUILD}")
