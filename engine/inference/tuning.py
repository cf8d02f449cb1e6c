"""PRECISION: load the model at the precision asked for, or at the fastest one that holds up.

``auto`` tries every precision this machine has a fast path for (:mod:`.precision`) on the
calibration tiles of the raster being classified: each one's speed, and the share of pixels
whose class equals fp32's. It keeps the fastest at or above :data:`.precision.AGREEMENT_TARGET`.
The measurements are stored in the user's cache, keyed by the model file's SHA-256, the
machine's CPU flags and the library versions, so the trial is paid once per model and machine;
the log says what was chosen, why, and whether the figures are from this run or an earlier one.
An explicit bf16 or int8 is honoured, and its agreement with fp32 printed (measured once,
likewise cached), with a warning when it falls below the target.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from typing import Callable, Optional

import numpy as np

from ...core.errors import Cancelled, Low2HighError
from ...core.progress import Progress, check_canceled
from .calibration import CalibrationSet, class_agreement
from .model import Model
from .model_cache import cache_folder, file_digest, key_of, read_json, write_json
from .precision import (
    AGREEMENT_TARGET,
    Hardware,
    Option,
    Trial,
    auto_candidates,
    choose_fastest,
    requested_option,
)
from .predictor import Predictor


def prepare_predictor(model: Model, precision: str, calibration: Callable[[], CalibrationSet],
                      progress: Progress) -> Predictor:
    """The predictor to classify with, at the requested or automatically chosen precision.

    Args:
        model: the opened model, fed the run's input statistics.
        precision: auto, fp32, bf16 or int8.
        calibration: returns the calibration tiles of the raster; called only if needed.
        progress: log and cancellation.
    """
    hardware = model.hardware
    choices = model.options(has_onnx_export=_importable("onnx"))
    session = _Session(model, hardware, calibration, progress)
    if precision != "auto":
        option = requested_option(precision, choices)
        if not option.worthwhile:
            progress.warn(f"PRECISION {precision} runs, but slowly: this is {hardware.describe()}, with no fast "
                          f"{precision} instructions; fp32 is likely faster.")
        predictor = session.load(option)
        if option.precision != "fp32":
            session.report_agreement(option, predictor)
        return predictor
    candidates = auto_candidates(choices)
    skipped = [f"{choice.precision}: {choice.unavailable or 'no fast path on ' + hardware.describe()}"
               for choice in choices if choice not in candidates]
    if len(candidates) == 1:
        progress.info(f"PRECISION auto: fp32, the only fast precision here ({'; '.join(skipped)}).")
        return session.load(candidates[0])
    return session.choose(candidates, skipped)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class _Session:
    """One model's precision trials: loads predictors, measures them, remembers the figures."""

    def __init__(self, model: Model, hardware: Hardware, calibration: Callable[[], CalibrationSet],
                 progress: Progress) -> None:
        self.model, self.hardware = model, hardware
        self.model_path, self.kind = model.path, model.kind
        # a fixed-size ONNX export runs through a resizable copy (never a Deepness model's graph)
        self.fixed_size = bool(model.info.fixed_tile_size) and model.info.resizable
        self.progress = progress
        self._calibration_source = calibration
        self._calibration: Optional[CalibrationSet] = None
        self._record_path = os.path.join(cache_folder(), f"trials-{key_of(self._record_key())}.json")
        record = read_json(self._record_path) or {}
        self.trials: dict[str, Trial] = {}
        for name, values in (record.get("trials") or {}).items():
            try:
                self.trials[name] = Trial(**values)
            except TypeError:
                continue  # a record from another version: measured again

    def _record_key(self) -> dict:
        import platform

        flags = sorted(flag for flag in self.hardware.flags if "avx" in flag or "amx" in flag)
        return {"model_sha256": file_digest(self.model_path), "device": self.hardware.device, "cpu_flags": flags,
                "cores": os.cpu_count(), "machine": platform.machine(), "versions": _versions(),
                "target": AGREEMENT_TARGET, "timing": "process-cpu-streams"}

    def calibration(self) -> CalibrationSet:
        if self._calibration is None:
            self._calibration = self._calibration_source()
        return self._calibration

    def load(self, option: Option) -> Predictor:
        """A predictor running ``option``; int8 builds (or finds) the cached quantised model."""
        if option.precision == "fp32" and self.kind == "torch" and self.hardware.device == "cpu" \
                and _importable("onnx") and _importable("onnxruntime"):
            return self._load_export()
        if option.precision == "fp32" and self.kind == "onnx" and self.fixed_size:
            return self._load_resizable()
        if option.precision != "int8":
            return self.model.predictor(option.precision)
        from .quantise import int8_model

        def tiles() -> list:
            calibration = self.calibration()
            if not calibration.tiles:
                raise Low2HighError("PRECISION int8 calibrates on tiles of the input, but the chosen area holds no "
                                    "tile that is at least half data (all nodata, or outside MASK); use fp32.")
            self.progress.info(f"Quantising the model to int8 on {len(calibration.tiles)} calibration tiles "
                               f"of the input (once per model; kept in {cache_folder()}).")
            return calibration.tiles

        started = time.perf_counter()
        try:
            entry = int8_model(self.model_path, self.kind, tiles)
        except Low2HighError:
            raise
        except Exception as error:  # onnx / onnxruntime raise their own types for graphs they cannot quantise
            raise Low2HighError(f"Cannot quantise '{os.path.basename(self.model_path)}' to int8 ({error}); "
                                "use PRECISION fp32 or bf16.") from error
        if entry.note:
            self.progress.warn(f"The cached int8 model was rebuilt: {entry.note}.")
        if entry.built:
            self.progress.info(f"int8 model built in {time.perf_counter() - started:.1f} s: {entry.path}.")
        return self.model.predictor("int8", runs=entry.path)

    def _load_export(self) -> Predictor:
        """fp32 of a .pt model on CPU: its cached ONNX export run by ONNX Runtime (the faster CPU
        backend); PyTorch when the export fails."""
        from .quantise import onnx_export

        try:
            entry = onnx_export(self.model_path)
        except Exception as error:  # the exporter raises many types; PyTorch still runs the model
            self.progress.warn(f"Running fp32 with PyTorch: the ONNX export failed ({error}).")
            return self.model.predictor("fp32")
        if entry.note:
            self.progress.warn(f"The cached ONNX export was rebuilt: {entry.note}.")
        return self.model.predictor("fp32", runs=entry.path)

    def _load_resizable(self) -> Predictor:
        """fp32 of a fixed-size ONNX model: its cached resizable copy (checked to compute the same
        function), so tiles need not be the export's size; the model itself when that fails."""
        from .quantise import resizable_copy

        try:
            entry = resizable_copy(self.model_path)
        except Exception as error:  # a graph with size-dependent constants: keep its fixed tiles
            self.progress.warn(f"Running the model at its fixed tile size: it cannot be made resizable ({error}).")
            return self.model.predictor("fp32")
        return self.model.predictor("fp32", runs=entry.path)

    def report_agreement(self, option: Option, predictor: Predictor) -> None:
        """Print (measuring once if needed) how often ``option`` picks fp32's class."""
        trial = self.trials.get(option.precision)
        when = "measured earlier on this machine"
        if trial is None:
            if not self.calibration().tiles:
                self.progress.warn(f"The agreement of {option.precision} with fp32 could not be measured: the "
                                   "chosen area holds no tile that is at least half data.")
                return
            self._measure({"fp32": self.load(Option("fp32", self.kind)), option.precision: predictor})
            trial = self.trials[option.precision]
            self._save()
            when = "measured now"
        message = (f"PRECISION {option.precision}: class agreement with fp32 {trial.agreement:.2%} on the calibration "
                   f"tiles ({when}).")
        if trial.agreement < AGREEMENT_TARGET:
            self.progress.warn(message + f" That is below the {AGREEMENT_TARGET:.0%} target: check the map, or "
                               "use fp32.")
        else:
            self.progress.info(message)

    def choose(self, candidates: list[Option], skipped: list[str]) -> Predictor:
        """Measure what is not yet measured, keep the fastest precision that holds the target."""
        missing = [option for option in candidates if option.precision not in self.trials]
        loaded: dict[str, Predictor] = {}
        if missing:
            if not self.calibration().tiles:
                self.progress.warn("PRECISION auto: the chosen area holds no tile that is at least half data to "
                                   "compare precisions on; using fp32.")
                return self.load(candidates[0])
            self.progress.info(f"PRECISION auto: measuring {', '.join(o.precision for o in candidates)} on "
                               f"{len(self.calibration().tiles)} calibration tiles of the input (once per model "
                               "and machine).")
            for option in [candidates[0]] + [o for o in missing if o.precision != "fp32"]:
                check_canceled(self.progress)
                predictor = self._try_load(option) if option is not candidates[0] else self.load(option)
                if predictor is None:
                    candidates = [o for o in candidates if o is not option]
                    continue
                loaded[option.precision] = predictor
            self._measure(loaded)
            self._save()
            when = "measured now"
        else:
            when = (f"measured earlier on this machine (delete {self._record_path} to measure again, e.g. after a "
                    "run on a busy machine)")
        best, reason, figures = choose_fastest([self.trials[o.precision] for o in candidates])
        note = f"; not tried: {'; '.join(skipped)}" if skipped else ""
        # Two short lines, not one of ~400 characters: the choice and why, then the figures behind it.
        self.progress.info(f"PRECISION auto: {best.precision} on {self.hardware.describe()}: {reason}.")
        self.progress.info(f"PRECISION auto, {when} on the calibration tiles: {figures}{note}.")
        chosen = loaded.pop(best.precision, None)
        loaded.clear()  # frees the predictors that lost
        return chosen or self.load(next(o for o in candidates if o.precision == best.precision))

    def _try_load(self, option: Option) -> Optional[Predictor]:
        """A candidate other than fp32, or None with a warning when it cannot be made here.

        An int8 model is built into the cache folder; a read-only or full cache (a shared
        installation, a locked-down home) left PRECISION auto failing outright, although fp32 and
        bf16 need no cache at all.
        """
        try:
            return self.load(option)
        except Cancelled:
            raise
        except Low2HighError as error:
            self.progress.warn(f"PRECISION auto: {option.precision} left out ({error}); choosing among the others.")
            return None

    def _measure(self, predictors: dict[str, Predictor]) -> None:
        """Time each predictor over the calibration tiles and compare its classes with fp32's.

        Each precision runs as segment will run it: as many tiles at once as it has streams
        (two single-threaded passes on a 2-core CPU), which also halves the trial's wall time
        against one pass after another. The precisions take turns group by group (in a
        rotating order), so a change in the machine's load during the trial weighs on all of
        them alike; the first group warms each up, untimed. The cost is the process's CPU time,
        not the wall clock: nothing else of segment runs during the trial, and on a machine
        shared with other work the wall clock measured the neighbours (it ranked int8 3 × and
        then 0.7 × fp32 on the same model).
        """
        calibration = self.calibration()
        names = list(predictors)
        group = max(predictor.streams for predictor in predictors.values())
        outputs: dict[str, list[np.ndarray]] = {name: [] for name in names}
        seconds = dict.fromkeys(names, 0.0)
        pixels = dict.fromkeys(names, 0)
        with ExitStack() as scope, ThreadPoolExecutor(group, "low2high-trial") as passes:
            for predictor in predictors.values():
                scope.enter_context(predictor.running())
            for index, start in enumerate(range(0, len(calibration.tiles), group)):
                timed = index > 0 or len(calibration.tiles) <= group
                shift = index % len(names)
                for name in names[shift:] + names[:shift]:
                    predictor = predictors[name]
                    tiles = calibration.tiles[start:start + group]
                    started = time.process_time()
                    if predictor.streams > 1 and len(tiles) > 1:
                        results = list(passes.map(partial(_predict_tile, predictor), tiles))
                    else:
                        results = [_predict_tile(predictor, tile) for tile in tiles]
                    if timed:
                        seconds[name] += time.process_time() - started
                        pixels[name] += sum(tile.shape[-1] * tile.shape[-2] for tile in tiles)
                    outputs[name].extend(results)
                    check_canceled(self.progress)
        reference = outputs["fp32"]
        for name in names:
            agreement = 1.0 if name == "fp32" else class_agreement(reference, outputs[name], calibration.valid)
            self.trials[name] = Trial(name, seconds[name] / max(pixels[name], 1) * 1e6, agreement)

    def _save(self) -> None:
        try:
            os.makedirs(os.path.dirname(self._record_path), exist_ok=True)
            write_json(self._record_path, {"model": self.model_path,
                                           "trials": {name: asdict(trial) for name, trial in self.trials.items()}})
        except OSError as error:
            self.progress.warn(f"Could not keep the precision measurements in the cache ({error.strerror}); "
                               "they will be measured again next time.")


def _predict_tile(predictor: Predictor, tile: np.ndarray) -> np.ndarray:
    """One tile's class probabilities (C, H, W)."""
    return predictor.predict(tile[None])[0]


def _versions() -> dict:
    import importlib.metadata

    versions: dict[str, Optional[str]] = {}
    for package in ("torch", "onnxruntime", "onnx"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions
