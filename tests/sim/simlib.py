"""Helpers of the ipo-sim suites: a real simulator on free ports (port 0 and
its ready file), its control API, and MTCTI3 clients over real TLS.

Every test runs its coroutine with ``run`` (no pytest-asyncio needed) under a
hard timeout, so nothing can hang the suite.
"""
import asyncio
import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

from testenv import BUILD, TOP, WORK, binary  # noqa: E402,F401

sys.path.insert(0, str(WORK / "py"))

from ipo_sim import PASSWORD, IpoSim  # noqa: E402,F401

Sim = IpoSim  # one running ipo-sim (tests/lib/ipo_sim.py)

TEST_TIMEOUT = 30


def run(coro, timeout=TEST_TIMEOUT):
    """Run a test coroutine with a hard deadline."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def guid_bytes(text):
    return bytes.fromhex(text.replace("-", ""))
