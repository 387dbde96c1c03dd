"""Where images are embedded: a CUDA GPU when ONNX Runtime has one, unless told not to (models/base.py).

This machine has no GPU: the CUDA branch is checked on the provider choice (what ONNX Runtime is asked
for), and a real session checks that the CPU is what runs here."""

from __future__ import annotations

import pytest

from framefind.errors import FrameFindError
from framefind.models.base import DEVICE_ENV, device, onnx_session, providers
from framefind.models.minilm import MiniLM

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def test_gpu_when_present_cpu_otherwise(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert providers([CUDA, CPU]) == [CUDA, CPU]  # the CPU stays as the fallback for ops CUDA lacks
    assert providers([CPU]) == [CPU]
    assert providers([CUDA, CPU], "cpu") == [CPU]  # the opt-out
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert providers([CUDA, CPU]) == [CPU]
    monkeypatch.setenv(DEVICE_ENV, " CUDA ")
    assert providers([CUDA, CPU]) == [CUDA, CPU]


@pytest.mark.parametrize("setting, message", [("cuda", "no CUDA provider"), ("gpu0", "choose auto, cpu or cuda")])
def test_bad_or_impossible_device_is_one_line(setting, message):
    with pytest.raises(FrameFindError, match=message) as caught:
        providers([CPU], setting)
    assert "\n" not in str(caught.value) and DEVICE_ENV in str(caught.value)


@pytest.mark.skipif(CUDA in __import__("onnxruntime").get_available_providers(), reason="this ONNX Runtime has CUDA")
def test_sessions_here_run_on_the_cpu(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert device() == "cpu"  # no GPU on this machine (nor in CI)
    session = onnx_session(MiniLM()._float_graph, threads=1, accelerate=True)
    assert session.get_providers() == [CPU]
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(FrameFindError):
        onnx_session(MiniLM()._float_graph, threads=1, accelerate=True)
    assert onnx_session(MiniLM()._float_graph, threads=1).get_providers() == [CPU]  # text: the CPU, always
