"""The device rule: auto is a GPU when there is one; cuda without one, or an unknown name, is a sentence."""
from __future__ import annotations

import pytest

from low2high.core.devices import DEVICES, resolve_device
from low2high.core.errors import Low2HighError


@pytest.mark.parametrize("requested,available,expected", [
    ("auto", True, "cuda"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("cpu", False, "cpu"), ("cuda", True, "cuda"),
])
def test_auto_prefers_a_gpu_and_cpu_is_always_cpu(requested, available, expected):
    assert resolve_device(requested, lambda: available) == expected


def test_the_runtime_is_not_asked_about_cuda_for_cpu():
    def unasked() -> bool:
        raise AssertionError("asked")

    assert resolve_device("cpu", unasked) == "cpu"


def test_cuda_without_a_gpu_and_unknown_devices_are_refused_with_advice():
    with pytest.raises(Low2HighError, match="no CUDA GPU.*use --device auto or cpu"):
        resolve_device("cuda", lambda: False, "use --device auto or cpu")
    with pytest.raises(Low2HighError, match="one of auto, cpu, cuda"):
        resolve_device("gpu", lambda: True)
    assert DEVICES == ("auto", "cpu", "cuda")
