"""Run a Low2High model on batches of tiles, with PyTorch (.pt) or ONNX Runtime (.onnx).

Both backends take the same normalised float32 batch and return class probabilities, so the
tiling engine does not care which one runs. Model files are read without executing code
(``torch.load(weights_only=True)``; ONNX is a graph, not a program). torch and onnxruntime are
imported only here, when a model is loaded: QGIS without torch still runs ONNX models.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from ..dependencies import require
from ..resources import resource_path
from ..errors import Low2HighError

DEVICES = ("auto", "cpu", "cuda")
#: The model bundled with the plugin, used when MODEL is left empty.
DEMO_MODEL = resource_path("models", "demo.pt")


@dataclass(frozen=True)
class ModelInfo:
    """What the engine needs to know about a loaded model (from its self-describing file)."""

    path: str
    backend: str  # "torch" or "onnx"
    device: str  # "cpu" or "cuda"
    class_names: tuple[str, ...]
    band_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    gsd: float
    tile_size: int
    tile_overlap: int
    fixed_tile_size: Optional[int] = None  # ONNX models exported for one tile size only
    standardisation: str = "dataset"  # the card's: "tile" standardises each tile by its own statistics

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_bands(self) -> int:
        return len(self.band_names)

    def describe(self) -> str:
        return (f"{os.path.basename(self.path)}: {self.num_bands} bands ({', '.join(self.band_names)}), "
                f"classes {', '.join(self.class_names)}, trained at {self.gsd:g} m per pixel; "
                f"{self.backend} on {self.device}")


class Predictor(Protocol):
    info: ModelInfo

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, bands, H, W) normalised float32 → (B, classes, H, W) float32 probabilities."""


def resolve_model_path(model: Optional[str]) -> str:
    """The model file to use: the user's, or the bundled demo model when none is given."""
    if not model:
        return DEMO_MODEL
    if not os.path.exists(model):
        raise Low2HighError(f"The model file '{model}' does not exist; check the path, or leave MODEL empty for the "
                            "bundled demo model.")
    return model


def load_predictor(model: Optional[str], device: str = "auto") -> Predictor:
    """Load a .pt checkpoint or an .onnx export for inference on ``device``.

    Raises:
        Low2HighError: unknown file type, a file that is not a Low2High model, a missing
            package, or CUDA asked for where there is none.
    """
    path = resolve_model_path(model)
    if device not in DEVICES:
        raise Low2HighError(f"DEVICE must be one of {', '.join(DEVICES)} (got '{device}').")
    extension = os.path.splitext(path)[1].lower()
    if extension in (".pt", ".pth", ".ckpt"):
        return TorchPredictor(path, device)
    if extension == ".onnx":
        return OnnxPredictor(path, device)
    raise Low2HighError(f"'{os.path.basename(path)}' is not a model file Low2High knows: use a .pt checkpoint or an .onnx export.")


def _info_from_card(path: str, backend: str, device: str, card, fixed_tile_size: Optional[int] = None) -> ModelInfo:
    return ModelInfo(path, backend, device, tuple(card.class_names), tuple(card.band_names), tuple(card.mean),
                     tuple(card.std), float(card.gsd), int(card.tile_size), int(card.tile_overlap), fixed_tile_size,
                     standardisation=card.standardisation)


def _model_error(path: str, error: Exception) -> Low2HighError:
    return Low2HighError(f"Cannot use the model '{os.path.basename(path)}': {error}")


class TorchPredictor:
    """A .pt checkpoint run by PyTorch (channels-last on CPU, bfloat16 autocast on CUDA)."""

    def __init__(self, path: str, device: str) -> None:
        torch = require("torch", "run .pt models (or export the model to .onnx and use ONNX Runtime)")
        from ...models.checkpoint import CheckpointError, load_checkpoint

        if device == "cuda" and not torch.cuda.is_available():
            raise Low2HighError("DEVICE is 'cuda' but PyTorch sees no CUDA GPU here; choose 'auto' or 'cpu'.")
        resolved = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        try:
            checkpoint = load_checkpoint(path)
            model = checkpoint.build_model(resolved)
        except CheckpointError as error:
            raise _model_error(path, error) from error
        self._torch = torch
        self._device = torch.device(resolved)
        self._model = model.to(memory_format=torch.channels_last)
        self.info = _info_from_card(path, "torch", resolved, checkpoint.card)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            inputs = torch.from_numpy(batch)
            if self._device.type == "cuda":
                inputs = inputs.pin_memory().to(self._device, non_blocking=True)
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self._device.type, dtype=torch.bfloat16, enabled=self._device.type == "cuda"):
                logits = self._model(inputs)
            probabilities = torch.softmax(logits.float(), dim=1)
            return probabilities.contiguous().cpu().numpy()


class OnnxPredictor:
    """An .onnx export run by ONNX Runtime (CUDA provider when installed and asked for)."""

    def __init__(self, path: str, device: str) -> None:
        ort = require("onnxruntime", "run .onnx models")
        from ...models.card import CheckpointError
        from ...models.onnx_card import describe_onnx_session, open_onnx_session

        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        if device == "cuda" and not has_cuda:
            raise Low2HighError("DEVICE is 'cuda' but this ONNX Runtime has no CUDA support; install onnxruntime-gpu or choose 'cpu'.")
        resolved = "cuda" if device in ("auto", "cuda") and has_cuda else "cpu"
        providers = (["CUDAExecutionProvider"] if resolved == "cuda" else []) + ["CPUExecutionProvider"]
        try:
            self._session = open_onnx_session(path, providers)
            _, card, metadata = describe_onnx_session(self._session, path)
        except CheckpointError as error:
            raise _model_error(path, error) from error
        self._input = self._session.get_inputs()[0].name
        self._outputs_logits = metadata.get("output") == "logits"
        input_size = metadata.get("input_size")  # [side, side] for fixed-size exports
        self.info = _info_from_card(path, "onnx", resolved, card, input_size[0] if input_size else None)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        (output,) = self._session.run(None, {self._input: batch})
        if self._outputs_logits:
            output = np.exp(output - output.max(axis=1, keepdims=True))
            output /= output.sum(axis=1, keepdims=True)
        return output.astype(np.float32, copy=False)
