"""Run a model on batches of tiles, with PyTorch (.pt) or ONNX Runtime (.onnx).

Both backends take the same normalised float32 batch and return class probabilities, so the
tiling engine does not care which one runs. A predictor is made by :meth:`.model.Model.predictor`
and handed the model's description (:class:`~.model_info.ModelInfo`) and its resolved device; it
reads no card and asks no runtime about devices itself. Model files are read without executing
code (``torch.load(weights_only=True)``; ONNX is a graph, not a program).
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any, ContextManager, Optional, Protocol

import numpy as np

from ...core.dependencies import require
from ...core.errors import Low2HighError
from .heap import release_free_memory
from .model_info import ModelInfo, model_error


class Predictor(Protocol):
    info: ModelInfo
    #: Forward passes the pipeline may run at once (each on its own thread, inside :meth:`running`).
    streams: int

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, bands, H, W) normalised float32 → (B, classes, H, W) float32 probabilities."""

    def running(self) -> ContextManager[None]:
        """The scope of a tiled run: settings the concurrent passes need, restored on exit."""


class TorchPredictor:
    """A .pt checkpoint run by PyTorch: channels-last, batch norms folded, bf16 when asked.

    bf16 keeps the weights in bfloat16 and runs under autocast (which holds the few
    precision-sensitive ops in fp32); on CPUs with AMX or AVX-512 bf16 oneDNN runs the
    convolutions as bf16 kernels, and a U-Net's head runs at half resolution
    (:mod:`.phase_head`: the same function without the full-resolution upsampled features). On
    CUDA, batches go through one reused pinned host buffer each way, so transfers are
    asynchronous DMA rather than a pageable copy per batch.
    """

    def __init__(self, path: str, device: str, info: ModelInfo, bf16: bool = False) -> None:
        torch = require("torch", "run .pt models (or export the model to .onnx and use ONNX Runtime)")
        from ...models.checkpoint import CheckpointError, load_checkpoint
        from .phase_head import with_phase_head
        from .torch_speed import cpu_streams, fold_batch_norms

        try:
            checkpoint = load_checkpoint(path)
            model = checkpoint.build_model(device)
        except CheckpointError as error:
            raise model_error(path, error) from error
        self._torch = torch
        self._device = torch.device(device)
        self._dtype = torch.bfloat16 if bf16 else torch.float32
        model = fold_batch_norms(model.eval())
        if bf16:  # fp32 stays the network as trained, bit for bit
            model = with_phase_head(model)
        self._model = model.to(dtype=self._dtype, memory_format=torch.channels_last)
        self._pinned_in: Any = None  # reused pinned host buffers (CUDA only)
        self._pinned_out: Any = None
        self.streams = cpu_streams(torch) if self._device.type == "cpu" else 1
        self.info = info

    def predict(self, batch: np.ndarray) -> np.ndarray:
        output = self._forward(batch)
        if self._device.type == "cpu":  # the pass's activations are freed now: give their pages back
            release_free_memory()
        return output

    def _forward(self, batch: np.ndarray) -> np.ndarray:
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
    """An ONNX Runtime session run on batches (its providers chose the device when it was opened).

    The session is the user's .onnx file's own (opened once, with its card) or one of a derived
    file (a cached ONNX export, resizable copy or int8 quantisation); ``info`` names the user's file.
    """

    def __init__(self, session: Any, info: ModelInfo) -> None:
        from .streams import passes_at_once

        self._session = session
        self.info = info
        self.streams = passes_at_once(info.device)  # as many as the session was opened for (:mod:`.streams`)
        graph_input = session.get_inputs()[0]
        self._input = graph_input.name
        metadata = session.get_modelmeta().custom_metadata_map
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
