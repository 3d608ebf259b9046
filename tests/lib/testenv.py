"""Where things are, for every test and script: import from here, never from
conftest (several conftest.py files exist, and Python knows only one module
named conftest).

Environment:
  MTCTI3_BUILD_DIR  the CMake build tree holding the binaries (default: build)
  MTCTI3_TEST_WORK  scratch space (default: tests/.work)
"""
import os
import pathlib

TOP = pathlib.Path(__file__).resolve().parent.parent.parent
WORK = pathlib.Path(os.environ.get("MTCTI3_TEST_WORK", TOP / "tests" / ".work"))
BUILD = pathlib.Path(os.environ.get("MTCTI3_BUILD_DIR", TOP / "build"))


def binary(name):
    """Path of a built binary, searched in the build tree."""
    for p in BUILD.rglob(name):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(f"{name} not built under {BUILD}")
