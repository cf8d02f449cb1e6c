"""int8 models: ONNX Runtime static quantisation calibrated on tiles of the user's raster.

Static (not dynamic) quantisation, QDQ format, per-channel int8 weights and uint8 activations:
on a CPU with VNNI or AMX ONNX Runtime runs the U-Net's convolutions as integer kernels, about
twice as fast as fp32. Dynamic quantisation was measured 7.6 times *slower* on this network
(it re-quantises every activation at run time, and its ConvInteger kernels are slow), so it is
not offered. Activation ranges come from the image being classified (min/max over the
calibration tiles, normalised exactly as inference normalises them), and the graph is made
resizable on the way, so a model exported for 512-px tiles still runs on large tiles.

``onnx`` and ``onnxruntime.quantization`` are imported inside the functions: QGIS loads this
module without them.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Sequence

import numpy as np

from ...core.dependencies import require
from .model_cache import CacheEntry, cached_file, file_digest

#: What the quantisation is; part of the cache key so a change of method rebuilds the entries.
METHOD = "ort-static-qdq-per-channel-s8w-u8a-minmax-fp32-tail-v2"
#: Trailing Conv nodes left in fp32 (with the Resize between them): the full-resolution head
#: decides each pixel's class, and quantising it flipped near-ties. On the demo model this
#: raised agreement with fp32 from 96.9 % to 99.2 % for a few percent of the compute.
FP32_TAIL_CONVS = 2
METADATA_KEY = "low2high"


def int8_model(model_path: str, model_kind: str, calibration: Callable[[], Sequence[np.ndarray]]) -> CacheEntry:
    """The cached int8 ONNX model for ``model_path`` (a .pt or .onnx file), built when needed.

    Args:
        model_path: the user's model; only read.
        model_kind: "torch" (.pt, exported to ONNX first) or "onnx".
        calibration: returns the normalised (bands, H, W) float32 tiles to calibrate on; called
            only when the entry has to be built.
    """
    settings = {"source_sha256": file_digest(model_path), "source_kind": model_kind, "method": METHOD,
                "onnxruntime": _version("onnxruntime", "run int8 models"),
                "onnx": _version("onnx", "quantise models to int8")}

    def build(target: str) -> None:
        with tempfile.TemporaryDirectory(prefix="low2high-int8-") as work:
            if model_kind == "torch":  # the fp32 export fp32 runs (cached): a second export cost seconds
                fp32 = onnx_export(model_path).path
            else:
                fp32 = os.path.join(work, "fp32.onnx")
                copy_for_quantisation(model_path, fp32)
            quantise_static(fp32, calibration(), target, work)

    return cached_file("int8", ".onnx", settings, build)


def onnx_export(model_path: str) -> CacheEntry:
    """The cached resizable fp32 ONNX export of a .pt checkpoint (ONNX Runtime is the faster fp32
    backend on CPUs: 2.1 × PyTorch's on this project's machine)."""
    settings = {"source_sha256": file_digest(model_path), "source_kind": "torch", "method": "export-logits-v1",
                "onnxruntime": _version("onnxruntime", "run models with ONNX Runtime"),
                "onnx": _version("onnx", "export .pt models to ONNX")}
    return cached_file("fp32", ".onnx", settings, lambda target: export_checkpoint(model_path, target))


def resizable_copy(model_path: str) -> CacheEntry:
    """A cached copy of a fixed-size ONNX model with a resizable input, checked to compute the same.

    Exports stay fixed-size on disk because Deepness reads the tile size from the input shape
    (its dialog fails on a symbolic one); segment runs this copy instead, so it can choose tiles
    that waste little on overlaps.
    """
    settings = {"source_sha256": file_digest(model_path), "method": "resizable-v1",
                "onnxruntime": _version("onnxruntime", "run .onnx models")}

    def build(target: str) -> None:
        make_resizable(model_path, target)
        _check_same_function(model_path, target)

    return cached_file("resizable", ".onnx", settings, build)


def _check_same_function(fixed_path: str, resizable_path: str) -> None:
    """Raise ValueError unless both models give the same output on a random input of the fixed size."""
    ort = require("onnxruntime", "run .onnx models")
    fixed = ort.InferenceSession(fixed_path, providers=["CPUExecutionProvider"])
    free = ort.InferenceSession(resizable_path, providers=["CPUExecutionProvider"])
    shape = [dim if isinstance(dim, int) else 1 for dim in fixed.get_inputs()[0].shape]
    sample = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    (expected,), (actual,) = fixed.run(None, {"input": sample}), free.run(None, {"input": sample})
    if expected.shape != actual.shape or not np.allclose(expected, actual, atol=1e-4):
        raise ValueError("the resizable copy does not compute what the model computes")


def _version(package: str, purpose: str) -> str:
    """An installed package's version without importing it (a cache hit needs neither onnx nor its
    memory); the install command when it is missing."""
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        require(package, purpose)  # raises with the command that installs it
        raise


def export_checkpoint(checkpoint_path: str, target: str) -> None:
    """Export a .pt checkpoint to a resizable ONNX graph with logits output (for quantisation)."""
    require("torch", "export .pt models to ONNX for int8")
    from ...models.checkpoint import load_checkpoint
    from ...models.onnx_export import export_onnx

    loaded = load_checkpoint(checkpoint_path)
    export_onnx(loaded.build_model(), loaded.card, target, output="logits", dynamic_size=True)


def copy_for_quantisation(source: str, target: str) -> None:
    """The fp32 graph to quantise: a Low2High export made resizable (its int8 model then takes any
    tile), another model (a Deepness one) as it is, since its graph may hold size-dependent
    constants and it keeps the tile size it was made for."""
    onnx = require("onnx", "quantise models to int8")
    if any(entry.key == METADATA_KEY for entry in onnx.load(source, load_external_data=False).metadata_props):
        make_resizable(source, target)
    else:
        shutil.copyfile(source, target)


def make_resizable(source: str, target: str) -> None:
    """Copy an ONNX model with its input and output height and width made dynamic.

    Our exports hold no size-dependent constants (upsampling is by scale factor), so a graph
    exported for one tile side computes the same function at any multiple of 32; only the
    declared shapes, the inferred intermediate shapes and the metadata's ``input_size`` pin it.
    """
    onnx = require("onnx", "quantise models to int8")
    model = onnx.load(source)
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]
    set_description(model, input_size=None)
    onnx.save(model, target)


def set_description(model: Any, **changes: Any) -> None:
    """Update keys of the Low2High description in an ONNX model's metadata (when it has one)."""
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            description = json.loads(entry.value)
            description.update(changes)
            entry.value = json.dumps(description)


def fp32_tail(model: Any) -> list[str]:
    """Names of the nodes kept in fp32: the last :data:`FP32_TAIL_CONVS` Conv nodes and every
    Resize after the first of them, plus the output Softmax when there is one."""
    nodes = list(model.graph.node)
    convs = [index for index, node in enumerate(nodes) if node.op_type == "Conv"][-FP32_TAIL_CONVS:]
    if not convs:
        return []
    tail = nodes[convs[0]:]
    return [node.name for node in tail if node.op_type in ("Conv", "Resize", "Softmax") and node.name]


def quantise_static(source: str, tiles: Sequence[np.ndarray], target: str, work: str) -> None:
    """Static QDQ int8 quantisation of ``source`` calibrated on ``tiles``, metadata kept.

    Raises:
        ValueError: no calibration tiles (the caller turns this into a sentence for the user).
    """
    onnx = require("onnx", "quantise models to int8")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not tiles:
        raise ValueError("no calibration tiles")

    graph = onnx.load(source, load_external_data=False).graph
    weights = {initializer.name for initializer in graph.initializer}
    input_name = next(value.name for value in graph.input if value.name not in weights)  # "input" in our exports

    class Tiles(CalibrationDataReader):
        def __init__(self) -> None:
            self._pending = iter(tiles)

        def get_next(self) -> Any:
            tile = next(self._pending, None)
            return None if tile is None else {input_name: np.ascontiguousarray(tile[None], np.float32)}

    prepared, quantised = os.path.join(work, "prepared.onnx"), os.path.join(work, "int8.onnx")
    quant_pre_process(source, prepared, skip_symbolic_shape=True)
    quantize_static(prepared, quantised, Tiles(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=fp32_tail(onnx.load(prepared, load_external_data=False)))
    original, model = onnx.load(source, load_external_data=False), onnx.load(quantised)
    del model.metadata_props[:]
    for entry in original.metadata_props:
        model.metadata_props.add(key=entry.key, value=entry.value)
    set_description(model, input_size=None, precision="int8")
    onnx.save(model, target)
