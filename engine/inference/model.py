"""The model of a segment run, opened once: its card, its device, its precision options, its runs.

``open_model`` resolves the file (the user's, or the bundled demo model), decides the device
once (the one place that asks PyTorch or ONNX Runtime whether they see a GPU), and reads the
card: from a checkpoint (memory-mapped, no weights loaded), or from the ONNX Runtime session of
an ``.onnx`` file, which is kept and later runs the model, so an ``.onnx`` file is parsed and
optimised once. Every predictor of the run comes from :meth:`Model.predictor`, described by the
card it was opened with (and the input statistics :meth:`Model.fed` set), never by reading a file again.
torch and onnxruntime are imported only here and in :mod:`.predictor`: QGIS without torch still
runs ONNX models.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ...core.dependencies import require
from ...core.devices import resolve_device
from ...core.errors import Low2HighError
from ...core.resources import resource_path
from .model_info import ModelInfo, info_from_card, model_error, onnx_info
from .precision import Hardware, Option, cpu_flags, options
from .predictor import OnnxPredictor, Predictor, TorchPredictor
from .streams import onnx_session_threads

#: The model bundled with the plugin, used when MODEL is left empty.
DEMO_MODEL = resource_path("models", "demo.pt")
#: Why each runtime is needed, in the sentence that installs it.
_PURPOSE = {"torch": "run .pt models (or export the model to .onnx and use ONNX Runtime)", "onnx": "run .onnx models"}
#: What to do when DEVICE cuda meets a runtime without CUDA.
_NO_CUDA = {"torch": "choose 'auto' or 'cpu'", "onnx": "install onnxruntime-gpu or choose 'cpu'"}


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


def _cuda_probe(kind: str) -> Callable[[], bool]:
    """How the runtime of a model of ``kind`` tells whether it sees a CUDA GPU."""
    if kind == "torch":
        torch = require("torch", _PURPOSE["torch"])
        return lambda: bool(torch.cuda.is_available())
    ort = require("onnxruntime", _PURPOSE["onnx"])
    return lambda: "CUDAExecutionProvider" in ort.get_available_providers()


def providers(device: str) -> list[str]:
    """ONNX Runtime's execution providers for a device (the CPU always last, as the fallback)."""
    return (["CUDAExecutionProvider"] if device == "cuda" else []) + ["CPUExecutionProvider"]


@dataclass(frozen=True)
class Model:
    """An opened model: what it is (``info``), where it runs (``device``) and how to run it."""

    path: str  # the user's file (the demo model when none)
    kind: str  # "torch" (.pt) or "onnx"
    device: str  # resolved: "cpu" or "cuda"
    info: ModelInfo  # the card, with the input statistics the run feeds (:meth:`fed`)
    session: Any = None  # an .onnx file's ONNX Runtime session: it gave the card and runs fp32

    @property
    def hardware(self) -> Hardware:
        return Hardware(self.device, cpu_flags())

    def options(self, has_onnx_export: bool) -> list[Option]:
        """The precisions this model can run at here (:func:`.precision.options`)."""
        return options(self.kind, self.hardware, has_onnx_export)

    def fed(self, mean: Sequence[float], std: Sequence[float], standardisation: str) -> "Model":
        """This model with the input statistics a run feeds it (the card's, or the image's own)."""
        info = dataclasses.replace(self.info, mean=tuple(mean), std=tuple(std), standardisation=standardisation)
        return dataclasses.replace(self, info=info)

    def predictor(self, precision: str = "fp32", runs: Optional[str] = None) -> Predictor:
        """A predictor of this model at ``precision``.

        Args:
            precision: fp32 or bf16 (torch); fp32 or int8 (ONNX Runtime). :mod:`.tuning` decides.
            runs: the file actually run when it differs from the model's (a cached ONNX export,
                resizable copy or int8 quantisation of it, made by :mod:`.quantise`).
        """
        kind = model_kind(runs) if runs else self.kind
        device = "cpu" if precision == "int8" else self.device  # static int8 (QDQ) runs on the CPU kernels
        info = dataclasses.replace(self.info, backend=kind, device=device, precision=precision)
        if kind == "torch":
            return TorchPredictor(self.path, device, info, bf16=precision == "bf16")
        if runs is None and device == self.device:
            return OnnxPredictor(self.session, info)
        from ...models.card import CheckpointError
        from ...models.onnx_card import open_onnx_session

        try:
            session = open_onnx_session(runs or self.path, providers(device), threads=onnx_session_threads(device))
        except CheckpointError as error:
            raise model_error(self.path, error) from error
        if runs:  # a derived graph: resizable, unless made from a fixed-size Deepness model
            info = dataclasses.replace(info, fixed_tile_size=_fixed_side(session))
        return OnnxPredictor(session, info)


def open_model(model: Optional[str], device: str = "auto") -> Model:
    """Open the user's model file (None or empty: the demo model) for ``device`` (auto, cpu or cuda).

    Raises:
        Low2HighError: no such file, an unknown file type, a file that is not a Low2High or
            Deepness model, a missing package, or CUDA asked for where there is none.
    """
    from ...models.card import CheckpointError

    path = resolve_model_path(model)
    kind = model_kind(path)
    resolved = resolve_device(device, _cuda_probe(kind), _NO_CUDA[kind])
    try:
        if kind == "torch":
            from ...models.checkpoint import read_checkpoint_card

            config, card, _ = read_checkpoint_card(path)
            return Model(path, kind, resolved, info_from_card(path, "torch", resolved, card, config=config))
        from ...models.onnx_card import open_onnx_session

        session = open_onnx_session(path, providers(resolved), threads=onnx_session_threads(resolved))
        return Model(path, kind, resolved, onnx_info(session, path, resolved), session)
    except CheckpointError as error:
        raise model_error(path, error) from error


def load_predictor(model: Optional[str], device: str = "auto", precision: str = "fp32",
                   runs: Optional[str] = None) -> Predictor:
    """A predictor of a model file in one call (tests, tools): :func:`open_model` then :meth:`Model.predictor`."""
    return open_model(model, device).predictor(precision, runs)


def _fixed_side(session: Any) -> Optional[int]:
    """The tile side a graph's input is fixed to (None when its height is dynamic)."""
    shape = list(session.get_inputs()[0].shape or ())
    side = shape[2] if len(shape) > 2 else None
    return side if isinstance(side, int) and side > 0 else None
