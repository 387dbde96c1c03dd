"""The package itself: what importing it costs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("faiss", "PIL", "onnxruntime", "torch", "framefind.library")


@pytest.mark.parametrize("statement", ["import framefind.config", "import framefind", "import framefind.errors"])
def test_importing_the_package_loads_neither_faiss_nor_pillow(statement):
    code = f"import sys, json; {statement}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert loaded == []


def test_the_public_names_are_there_when_asked_for():
    code = ("import sys, framefind; from framefind import Library, ResultKey, IndexEvents; "
            "print(Library.__module__, ResultKey.__module__, IndexEvents.__module__, 'faiss' in sys.modules, "
            "sorted(framefind.__all__) == sorted(n for n in framefind.__all__ if hasattr(framefind, n)))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["framefind.library", "framefind.search.results", "framefind.store.events", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'Libary'"):
        import framefind

        framefind.Libary  # noqa: B018 - a typo fails as for any module


def test_one_reason_for_every_library_error():
    from framefind.errors import reason

    faiss_error = RuntimeError("Error in void faiss::read_index(IOReader*) at /faiss/impl/index_read.cpp:123: "
                               "Error: 'ret == (1)' failed:\n read error")
    assert reason(faiss_error) == "'ret == (1)' failed: read error"  # no C++ location, one line
    assert reason(FileNotFoundError(2, "No such file or directory", "/x/a.mp4")) == "No such file or directory"
    assert reason(ValueError()) == "ValueError" and len(reason(ValueError("x" * 5000))) == 300
