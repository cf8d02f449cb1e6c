"""The device rule, stated once for segment, finetune and training: ``auto`` means a GPU when there is one.

torch-free: callers hand over how their runtime (PyTorch or ONNX Runtime) tells whether it sees
CUDA, and it is asked only when the answer matters (not for ``cpu``), once per run.
"""
from __future__ import annotations

from typing import Callable

from .errors import Low2HighError

DEVICES = ("auto", "cpu", "cuda")
"""The values of every DEVICE parameter and --device flag."""


def resolve_device(requested: str, sees_cuda: Callable[[], bool],
                   missing_cuda_advice: str = "choose 'auto' or 'cpu'") -> str:
    """``"cuda"`` or ``"cpu"`` for a requested device.

    Args:
        requested: auto, cpu or cuda.
        sees_cuda: Whether the runtime that will run the model sees a CUDA GPU (not called for cpu).
        missing_cuda_advice: What to do when cuda was asked for but there is none.

    Raises:
        Low2HighError: an unknown device, or cuda without a GPU.
    """
    if requested not in DEVICES:
        raise Low2HighError(f"The device must be one of {', '.join(DEVICES)} (got '{requested}').")
    if requested == "cpu":
        return "cpu"
    available = sees_cuda()
    if requested == "cuda" and not available:
        raise Low2HighError(f"The device is 'cuda' but no CUDA GPU can be used here; {missing_cuda_advice}.")
    return "cuda" if available else "cpu"
