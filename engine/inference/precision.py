"""Which numeric precisions a model can run at on this machine, and which one ``auto`` picks.

Pure decisions, no model is run here: :mod:`.tuning` measures, this module judges. The CPU's
abilities come from ``/proc/cpuinfo`` flags (bf16 needs ``avx512_bf16`` or ``amx_bf16``;
int8 pays only with VNNI or AMX int8, otherwise ONNX Runtime's int8 convolutions are no faster
than fp32), so the choice is explained in words the user can check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from ...core.errors import Low2HighError

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Share of pixels whose class must equal fp32's for ``auto`` to accept a cheaper precision.
AGREEMENT_TARGET = 0.99
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags Linux reports (empty where there is no /proc/cpuinfo)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@dataclass(frozen=True)
class Hardware:
    """What the machine that runs the model can do fast."""

    device: str  # "cpu" or "cuda"
    flags: frozenset[str] = frozenset()

    @property
    def has_bf16(self) -> bool:
        return self.device == "cuda" or any(flag in self.flags for flag in BF16_FLAGS)

    @property
    def has_int8(self) -> bool:
        return self.device == "cpu" and any(flag in self.flags for flag in INT8_FLAGS)

    def describe(self) -> str:
        if self.device == "cuda":
            return "a CUDA GPU"
        found = [flag for flag in BF16_FLAGS + INT8_FLAGS if flag in self.flags]
        return f"a CPU with {', '.join(found)}" if found else "a CPU without bf16 or VNNI instructions"


@dataclass(frozen=True)
class Option:
    """A precision the model could run at, or why it cannot."""

    precision: str
    backend: str  # "torch" or "onnx": what runs it
    unavailable: Optional[str] = None  # a sentence, or None when it can run
    worthwhile: bool = True  # False: it runs, but this hardware has no fast path for it


def options(model_kind: str, hardware: Hardware, has_onnx_export: bool = True) -> list[Option]:
    """The precisions a ``model_kind`` ("torch" for .pt, "onnx" for .onnx) model can use here.

    Args:
        model_kind: the model file's kind.
        hardware: the machine.
        has_onnx_export: the ``onnx`` package is installed, so a .pt model can be exported
            for int8 (quantisation works on ONNX graphs).
    """
    fp32 = Option("fp32", model_kind)
    if model_kind == "torch":
        bf16 = Option("bf16", "torch", None if hardware.has_bf16 else
                      f"bf16 needs a CUDA GPU or a CPU with avx512_bf16 or amx_bf16; this is {hardware.describe()}")
    else:
        bf16 = Option("bf16", "onnx", "bf16 runs through PyTorch: give the .pt checkpoint (ONNX Runtime has no "
                      "fast bf16 convolutions on CPU)")
    if hardware.device == "cuda":
        int8 = Option("int8", "onnx", "int8 is the CPU path (ONNX Runtime static quantisation); on a GPU use bf16 "
                      "or fp32, or choose DEVICE cpu")
    elif model_kind == "torch" and not has_onnx_export:
        int8 = Option("int8", "onnx", "int8 needs the .pt model exported to ONNX, which needs the 'onnx' package; "
                      "install it, or export the model with 'python -m low2high.train export' and give the .onnx")
    else:
        int8 = Option("int8", "onnx", worthwhile=hardware.has_int8)
    return [fp32, bf16, int8]


def requested_option(requested: str, choices: Sequence[Option]) -> Option:
    """The option for an explicit PRECISION (not ``auto``), or a clear error."""
    if requested not in PRECISIONS:
        raise Low2HighError(f"PRECISION must be one of {', '.join(PRECISIONS)} (got '{requested}').")
    option = next(choice for choice in choices if choice.precision == requested)
    if option.unavailable:
        raise Low2HighError(f"PRECISION {requested} cannot be used here: {option.unavailable}.")
    return option


def auto_candidates(choices: Iterable[Option]) -> list[Option]:
    """The precisions ``auto`` tries: those that run and have a fast path on this hardware."""
    return [choice for choice in choices if not choice.unavailable and choice.worthwhile]


@dataclass(frozen=True)
class Trial:
    """A precision measured on the calibration tiles."""

    precision: str
    seconds_per_mpx: float  # CPU seconds of the process per Mpx of tile
    agreement: float  # share of valid pixels whose class equals fp32's (1.0 for fp32)


def choose_fastest(trials: Sequence[Trial], target: float = AGREEMENT_TARGET) -> tuple[Trial, str, str]:
    """The fastest trial that holds the agreement target, why it won, and the measured figures.

    The reason and the figures come apart so that the log can say the choice in one short line and
    the numbers in a second (one line of ~400 characters was unreadable in QGIS's log panel).
    fp32 always qualifies (it is the reference), so there is always an answer.
    """
    if not trials:
        raise ValueError("choose_fastest needs at least the fp32 trial")
    holding = [trial for trial in trials if trial.agreement >= target]
    best = min(holding, key=lambda trial: trial.seconds_per_mpx)
    reference = next((trial for trial in trials if trial.precision == "fp32"), best)
    refused = [trial.precision for trial in trials if trial.agreement < target]
    reason = f"the fastest keeping {target:.0%} class agreement with fp32"
    if best.precision != "fp32":
        reason += f", {best.seconds_per_mpx / reference.seconds_per_mpx:.2f}× fp32's CPU time"
    if refused:
        reason += f" ({', '.join(refused)} below that target)"
    figures = "; ".join(f"{trial.precision} {_rate(trial)}, {trial.agreement:.2%} agreement with fp32"
                        for trial in trials)
    return best, reason, figures


def _rate(trial: Trial) -> str:
    return f"{1.0 / trial.seconds_per_mpx:.2f} Mpx per CPU-second" if trial.seconds_per_mpx > 0 else "not timed"
