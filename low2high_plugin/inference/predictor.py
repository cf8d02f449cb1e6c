"""Run a Low2High model on batches of tiles, with PyTorch (.pt) or ONNX Runtime (.onnx).

Both backends take the same normalised float32 batch and return class probabilities, so the
tiling engine does not care which one runs. Model files are read without executing code
(``torch.load(weights_only=True)``; ONNX is a graph, not a program). torch and onnxruntime are
imported only here, when a model is loaded: QGIS without torch still runs ONNX models.
"""
from __future__ import annotations

import dataclasses
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
    threshold: float = 0.0  # the card's probability_threshold: less sure pixels get class 0 (Deepness's seg_thresh)
    binary: bool = False  # one sigmoid map (a Deepness model): class 1 where it reaches the threshold
    resolution_known: bool = True  # False: a Deepness model without 'resolution'; no pixel-size check
    resizable: bool = True  # a fixed-size graph may run through a resizable copy (Low2High exports only)
    notes: tuple[str, ...] = ()  # sentences to warn about when the model is used (missing Deepness metadata)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_bands(self) -> int:
        return len(self.band_names)

    def describe(self) -> str:
        scale = f"trained at {self.gsd:g} m per pixel" if self.resolution_known else "pixel size not stated"
        threshold = f", class 0 below {self.threshold:g} probability" if self.threshold else ""
        return (f"{os.path.basename(self.path)}: {self.num_bands} bands ({', '.join(self.band_names)}), "
                f"classes {', '.join(self.class_names)}, {scale}{threshold}; "
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
        from ...models.onnx_card import open_onnx_session

        return _onnx_info(open_onnx_session(path), path, "cpu")
    except CheckpointError as error:
        raise _model_error(path, error) from error


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
                     precision, int(width) if width else None, standardisation=card.standardisation,
                     threshold=float(card.probability_threshold))


def _onnx_info(session: Any, shown: str, device: str, precision: str = "fp32") -> ModelInfo:
    """What an open ONNX model says about itself: a Low2High export's description, or Deepness's metadata.

    Raises:
        CheckpointError: neither describes the file, or the description is unusable.
    """
    from ...models.card import CheckpointError
    from ...models.onnx_card import METADATA_KEY, describe_onnx_session
    from .deepness import describe_deepness_session, is_deepness_model

    metadata = session.get_modelmeta().custom_metadata_map
    if is_deepness_model(metadata):
        model = describe_deepness_session(session, shown)
        info = _info_from_card(shown, "onnx", device, model.card, model.fixed_tile_size, precision)
        return dataclasses.replace(info, binary=model.binary, resolution_known=model.resolution_known,
                                   resizable=False, notes=model.notes)
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{shown} is not a Low2High model nor a Deepness one: it carries neither the Low2High "
                              f"description (ONNX metadata '{METADATA_KEY}') nor Deepness metadata (model_type, "
                              "class_names, ...), so its bands, classes and normalisation are unknown")
    config, card, description = describe_onnx_session(session, shown)
    input_size = description.get("input_size")
    return _info_from_card(shown, "onnx", device, card, input_size[0] if input_size else None, precision, config)


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
        from ...models.onnx_card import open_onnx_session

        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        resolved = choose_device(device, has_cuda, "install onnxruntime-gpu or choose 'cpu'")
        if precision == "int8":
            resolved = "cpu"  # static int8 (QDQ) models run on ONNX Runtime's CPU kernels
        providers = (["CUDAExecutionProvider"] if resolved == "cuda" else []) + ["CPUExecutionProvider"]
        shown = shown_path or path
        try:
            self._session = open_onnx_session(path, providers)
            self.info = _onnx_info(self._session, shown, resolved, precision)
        except CheckpointError as error:
            raise _model_error(shown, error) from error
        self.streams = 1  # one session.run at a time: ONNX Runtime already spreads a pass over the cores
        graph_input = self._session.get_inputs()[0]
        self._input = graph_input.name
        metadata = self._session.get_modelmeta().custom_metadata_map
        self._stated_output = _low2high_output(metadata)  # None: a Deepness model, which does not say
        batch = graph_input.shape[0] if graph_input.shape else None
        self._batch = batch if isinstance(batch, int) and batch > 0 else None  # a graph made for N tiles at a time

    def running(self) -> ContextManager[None]:
        return nullcontext()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        output = self._run(batch)
        if self._stated_output == "logits":
            return _softmax(output)
        if self._stated_output == "probabilities":
            return output.astype(np.float32, copy=False)
        return foreign_probabilities(output, batch.shape, os.path.basename(self.info.path))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """One pass, or passes of the graph's fixed batch size (the last one padded) for a graph made for it."""
        if self._batch is None or self._batch == len(batch):
            (output,) = self._session.run(None, {self._input: batch})
            return output
        parts = []
        for start in range(0, len(batch), self._batch):
            part = batch[start:start + self._batch]
            padded = np.concatenate([part, np.zeros((self._batch - len(part), *part.shape[1:]), part.dtype)])
            (output,) = self._session.run(None, {self._input: padded})
            parts.append(output[:len(part)])
        return np.concatenate(parts)


def _low2high_output(metadata: dict) -> Optional[str]:
    """The ``output`` kind a Low2High description states (None for other models)."""
    import json

    from ...models.onnx_card import METADATA_KEY

    try:
        return json.loads(metadata[METADATA_KEY]).get("output") if METADATA_KEY in metadata else None
    except (ValueError, AttributeError):
        return None


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Class probabilities of (B, C, H, W) scores, along the class axis."""
    output = np.exp(scores - scores.max(axis=1, keepdims=True))
    output /= output.sum(axis=1, keepdims=True)
    return output.astype(np.float32, copy=False)


#: How far a foreign model's per-pixel class scores may sum from 1 and still count as probabilities.
PROBABILITY_TOLERANCE = 1e-2


def foreign_probabilities(output: np.ndarray, input_shape: tuple, name: str) -> np.ndarray:
    """Class probabilities from a model that does not say what it outputs (a Deepness model).

    Deepness models give softmax probabilities, or one sigmoid map for a single class; some give
    raw scores (logits). Scores in 0-1 that sum to 1 per pixel are probabilities as they are;
    other scores become probabilities by softmax (one map: by the sigmoid), so tiles blend on
    one scale. One map ``p`` becomes the two classes ``(1 - p, p)``.

    Raises:
        Low2HighError: the output is not one score map per class and input pixel.
    """
    batch, _, height, width = input_shape
    if output.ndim != 4 or output.shape[0] != batch or output.shape[2:] != (height, width):
        raise Low2HighError(f"The model '{name}' gives an output of shape {tuple(output.shape)} for input tiles of "
                            f"{tuple(input_shape)}: not a class score per input pixel, so it cannot draw a map.")
    scores = output.astype(np.float32, copy=False)
    if scores.shape[1] == 1:
        if scores.min() < 0 or scores.max() > 1:
            scores = 1 / (1 + np.exp(-scores))
        return np.concatenate([1 - scores, scores], axis=1)
    sums = scores.sum(axis=1)
    if scores.min() >= 0 and scores.max() <= 1 and np.abs(sums - 1).max() <= PROBABILITY_TOLERANCE:
        return scores
    return _softmax(scores)
