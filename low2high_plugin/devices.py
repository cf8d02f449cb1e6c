"""The device rule, stated once for segment, finetune and training: ``auto`` means a GPU when there is one.

torch-free: callers say whether their runtime (PyTorch or ONNX Runtime) sees CUDA.
"""
from __future__ import annotations

from .errors import Low2HighError

DEVICES = ("auto", "cpu", "cuda")
"""The values of every DEVICE parameter and --device flag."""


def choose_device(requested: str, cuda_available: bool, missing_cuda_advice: str = "choose 'auto' or 'cpu'") -> str:
    """``"cuda"`` or ``"cpu"`` for a requested device.

    Args:
        requested: auto, cpu or cuda.
        cuda_available: Whether the runtime that will run the model sees a CUDA GPU.
        missing_cuda_advice: What to do when cuda was asked for but there is none.

    Raises:
        Low2HighError: an unknown device, or cuda without a GPU.
    """
    if requested not in DEVICES:
        raise Low2HighError(f"The device must be one of {', '.join(DEVICES)} (got '{requested}').")
    if requested == "cuda" and not cuda_available:
        raise Low2HighError(f"The device is 'cuda' but no CUDA GPU can be used here; {missing_cuda_advice}.")
    return "cuda" if requested != "cpu" and cuda_available else "cpu"
