"""Run a Low2High model on batches of tiles, with PyTorch (.pt) or ONNX Runtime (.onnx).

Both backends take the same normalised float32 batch and return class probabilities, so the
tiling engine does not care which one runs. Model files are read without executing code
(``torch.load(weights_only=True)``; ONNX is a graph, not a program). torch and onnxruntime are
imported only here, when a model is loaded: QGIS without torch still runs ONNX models.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager, Optional, Protocol

import numpy as np

from ..dependencies import require
from ..devices import DEVICES, choose_device
from ..errors import Low2HighError
from ..resources import resource_path

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
    precision: str = "fp32"  # what the model really runs at: fp32, bf16 or int8
    network_width: Optional[int] = None  # U-Net width (64: the paper's), for memory estimates
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
                f"{self.backend} {self.precision} on {self.device}")


class Predictor(Protocol):
    info: ModelInfo
    #: Forward passes the pipeline may run at once (each on its own thread, inside :meth:`running`).
    streams: int

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, bands, H, W) normalised float32 → (B, classes, H, W) float32 probabilities."""

    def running(self) -> ContextManager[None]:
        """The scope of a tiled run: settings the concurrent passes need, restored on exit."""


def resolve_model_path(model: Optional[str]) -> str:
    """The model file to use: the user's, or the bundled demo model when none is given."""
    if not model:
        return DEMO_MODEL
    if not os.path.exists(model):
        raise Low2HighError(f"The model file '{model}' does not exist; check the path, or leave MODEL empty for the "
                            "bundled demo model.")
    return model


def model_kind(path: str) -> str:
    """"torch" for a checkpoint, "onnx" for an ONNX export; a clear error for anything else."""
    extension = os.path.splitext(path)[1].lower()
    if extension in (".pt", ".pth", ".ckpt"):
        return "torch"
    if extension == ".onnx":
        return "onnx"
    raise Low2HighError(f"'{os.path.basename(path)}' is not a model file Low2High knows: use a .pt checkpoint or "
                        "an .onnx export.")


def read_model_info(model: Optional[str]) -> ModelInfo:
    """What a model file says about itself (bands, classes, normalisation), without preparing to run it.

    The device is not resolved yet ("cpu" stands in); :func:`load_predictor` gives the real one.
    """
    path = resolve_model_path(model)
    kind = model_kind(path)
    from ...models.card import CheckpointError

    try:
        if kind == "torch":
            require("torch", "run .pt models (or export the model to .onnx and use ONNX Runtime)")
            from ...models.checkpoint import read_checkpoint_card

            config, card, _ = read_checkpoint_card(path)
            return _info_from_card(path, "torch", "cpu", card, config=config)
        require("onnxruntime", "run .onnx models")
        from ...models.onnx_card import read_onnx_card

        config, card, description = read_onnx_card(path)
    except CheckpointError as error:
        raise _model_error(path, error) from error
    input_size = description.get("input_size")
    return _info_from_card(path, "onnx", "cpu", card, input_size[0] if input_size else None, config=config)


def load_predictor(model: Optional[str], device: str = "auto", precision: str = "fp32",
                   runs: Optional[str] = None) -> Predictor:
    """Load a .pt checkpoint or an .onnx export for inference on ``device`` at ``precision``.

    Args:
        model: the user's model file (None or empty: the demo model).
        device: auto, cpu or cuda.
        precision: fp32 or bf16 (torch); fp32 or int8 (ONNX Runtime). :mod:`.tuning` decides.
        runs: the file actually run when it differs from ``model`` (a cached int8 model).

    Raises:
        Low2HighError: unknown file type, a file that is not a Low2High model, a missing
            package, or CUDA asked for where there is none.
    """
    path = resolve_model_path(model)
    if device not in DEVICES:
        raise Low2HighError(f"DEVICE must be one of {', '.join(DEVICES)} (got '{device}').")
    kind = model_kind(runs or path)
    if kind == "torch":
        return TorchPredictor(path, device, bf16=precision == "bf16")
    return OnnxPredictor(runs or path, device, shown_path=path, precision=precision)


def _info_from_card(path: str, backend: str, device: str, card, fixed_tile_size: Optional[int] = None,
                    precision: str = "fp32", config=None) -> ModelInfo:
    width = getattr(config, "width", None)
    return ModelInfo(path, backend, device, tuple(card.class_names), tuple(card.band_names), tuple(card.mean),
                     tuple(card.std), float(card.gsd), int(card.tile_size), int(card.tile_overlap), fixed_tile_size,
                     precision, int(width) if width else None, standardisation=card.standardisation)


def _model_error(path: str, error: Exception) -> Low2HighError:
    return Low2HighError(f"Cannot use the model '{os.path.basename(path)}': {error}")


class TorchPredictor:
    """A .pt checkpoint run by PyTorch: channels-last, batch norms folded, bf16 when asked.

    bf16 keeps the weights in bfloat16 and runs under autocast (which holds the few
    precision-sensitive ops in fp32); on CPUs with AMX or AVX-512 bf16 oneDNN runs the
    convolutions as bf16 kernels. On CUDA, batches go through one reused pinned host buffer
    each way, so transfers are asynchronous DMA rather than a pageable copy per batch.
    """

    def __init__(self, path: str, device: str, bf16: bool = False) -> None:
        torch = require("torch", "run .pt models (or export the model to .onnx and use ONNX Runtime)")
        from ...models.checkpoint import CheckpointError, load_checkpoint
        from .torch_speed import cpu_streams, fold_batch_norms

        resolved = choose_device(device, torch.cuda.is_available())
        try:
            checkpoint = load_checkpoint(path)
            model = checkpoint.build_model(resolved)
        except CheckpointError as error:
            raise _model_error(path, error) from error
        self._torch = torch
        self._device = torch.device(resolved)
        self._dtype = torch.bfloat16 if bf16 else torch.float32
        model = fold_batch_norms(model.eval())
        self._model = model.to(dtype=self._dtype, memory_format=torch.channels_last)
        self._pinned_in: Any = None  # reused pinned host buffers (CUDA only)
        self._pinned_out: Any = None
        self.streams = cpu_streams(torch) if self._device.type == "cpu" else 1
        self.info = _info_from_card(path, "torch", resolved, checkpoint.card, precision="bf16" if bf16 else "fp32",
                                    config=checkpoint.config)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            inputs = self._to_device(batch).to(self._dtype).contiguous(memory_format=torch.channels_last)
            with torch.autocast(self._device.type, dtype=torch.bfloat16, enabled=self._dtype == torch.bfloat16):
                logits = self._model(inputs)
            probabilities = torch.softmax(logits.float(), dim=1)
            return self._to_host(probabilities)

    def running(self) -> ContextManager[None]:
        from .torch_speed import threads_per_stream

        return threads_per_stream(self._torch, self.streams)

    def _to_device(self, batch: np.ndarray):
        torch = self._torch
        if self._device.type != "cuda":
            return torch.from_numpy(batch)
        if self._pinned_in is None or self._pinned_in.shape != batch.shape:
            self._pinned_in = torch.empty(batch.shape, dtype=torch.float32, pin_memory=True)
        self._pinned_in.numpy()[...] = batch
        return self._pinned_in.to(self._device, non_blocking=True)

    def _to_host(self, probabilities) -> np.ndarray:
        torch = self._torch
        if self._device.type != "cuda":
            return probabilities.contiguous().numpy()
        if self._pinned_out is None or self._pinned_out.shape != probabilities.shape:
            self._pinned_out = torch.empty(probabilities.shape, dtype=torch.float32, pin_memory=True)
        self._pinned_out.copy_(probabilities, non_blocking=True)
        torch.cuda.current_stream(self._device).synchronize()
        return self._pinned_out.numpy().copy()


class OnnxPredictor:
    """An .onnx model run by ONNX Runtime (CUDA provider when installed and asked for).

    ``path`` is the file run (the user's export, or its cached int8 quantisation); messages
    name ``shown_path``, the file the user chose.
    """

    def __init__(self, path: str, device: str, shown_path: Optional[str] = None, precision: str = "fp32") -> None:
        ort = require("onnxruntime", "run .onnx models")
        from ...models.card import CheckpointError
        from ...models.onnx_card import describe_onnx_session, open_onnx_session

        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        resolved = choose_device(device, has_cuda, "install onnxruntime-gpu or choose 'cpu'")
        if precision == "int8":
            resolved = "cpu"  # static int8 (QDQ) models run on ONNX Runtime's CPU kernels
        providers = (["CUDAExecutionProvider"] if resolved == "cuda" else []) + ["CPUExecutionProvider"]
        shown = shown_path or path
        try:
            self._session = open_onnx_session(path, providers)
            config, card, metadata = describe_onnx_session(self._session, shown)
        except CheckpointError as error:
            raise _model_error(shown, error) from error
        self.streams = 1  # one session.run at a time: ONNX Runtime already spreads a pass over the cores
        self._input = self._session.get_inputs()[0].name
        self._outputs_logits = metadata.get("output") == "logits"
        input_size = metadata.get("input_size")  # [side, side] for fixed-size exports
        self.info = _info_from_card(shown, "onnx", resolved, card, input_size[0] if input_size else None,
                                    precision, config)

    def running(self) -> ContextManager[None]:
        return nullcontext()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        (output,) = self._session.run(None, {self._input: batch})
        if self._outputs_logits:
            output = np.exp(output - output.max(axis=1, keepdims=True))
            output /= output.sum(axis=1, keepdims=True)
        return output.astype(np.float32, copy=False)
