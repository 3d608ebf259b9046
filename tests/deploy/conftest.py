"""The deploy checks start a bridge and ipo-sim with the bridge tests' helpers."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bridge"))
