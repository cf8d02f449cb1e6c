"""Tiled inference as a three-stage pipeline: read ▸ predict ▸ blend and write.

A reader thread reads, masks and normalises tiles and groups them into batches; the calling
thread runs the model (or, when the predictor asks for several ``streams``, hands batches to that
many model threads and collects the results in order); a writer thread blends the predictions and
writes finished blocks. The stages overlap (GDAL, NumPy and the model release the GIL), so
reading and writing hide behind the model's compute. Bounded queues keep at most a couple of
batches in flight; memory does not grow with the raster. Cancelling stops every stage and raises
:class:`~.errors.Cancelled`.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from osgeo import gdal

from ...core.progress import Countdown, Progress, check_canceled
from ..geo.mask import PolygonMask
from ..geo.raster_io import RasterSource
from ..labels.classes import NODATA
from ..labels.colour_refinement import ColourModel
from .blending import BlendedBlock, TileBlender
from .decision import class_map
from .model_info import ModelInfo
from .predictor import Predictor
from .tile_input import network_input, pad_tile
from .tiling import Tile, TileLayout, tile_read_window

#: Batches read ahead of the model, and predictions waiting for the writer.
QUEUE_DEPTH = 2
_DONE = object()


@dataclass
class InferenceStats:
    """What a tiled run did, for the log and the benchmark."""

    tiles: int = 0
    tiles_predicted: int = 0
    computed_pixels: int = 0  # tile pixels the model computed (overlaps and padding included)
    seconds: float = 0.0
    model_seconds: float = 0.0  # time the model stage was busy (pass times / concurrent streams)
    reader_cpu_seconds: float = 0.0  # CPU time of the reading thread (decoding, masks, normalising)
    writer_cpu_seconds: float = 0.0  # CPU time of the writing thread (blending, argmax, encoding)
    class_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))


@dataclass
class _Batch:
    tiles: list[tuple[Tile, bool, np.ndarray]]  # tile, has a prediction, valid pixels
    inputs: Optional[np.ndarray]  # (B, bands, H, W) float32 for the tiles that have one
    probabilities: Optional[np.ndarray] = None


class _Worker(threading.Thread):
    """A thread that remembers the exception that ended it."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: Optional[BaseException] = None
        self.cpu_seconds = 0.0

    def run(self) -> None:
        try:
            self._work()
        except BaseException as error:  # handed to the calling thread
            self.error = error
        finally:
            self.cpu_seconds = time.thread_time()


def run_tiled_inference(source_path: str, layout: TileLayout, predictor: Predictor, batch_size: int,
                        classes_band: gdal.Band, probabilities: Optional[gdal.Dataset], progress: Progress,
                        mask: Optional[PolygonMask] = None, colours: Optional[ColourModel] = None) -> InferenceStats:
    """Classify ``layout.region`` of the raster at ``source_path`` into the given outputs.

    Args:
        source_path: raster to read (opened again by the reader thread).
        layout: tiles over the region; output bands cover exactly ``layout.region``.
        predictor: the model.
        batch_size: tiles per forward pass.
        classes_band: Byte band receiving class codes (255 where there is no data).
        probabilities: optional dataset with one Byte band per class (percent, 255 nodata).
        progress: progress, log and cancellation.
        mask: polygons outside which nothing is classified.
        colours: the image's class colours (:mod:`~low2high.engine.labels.colour_refinement`): each
            pass's probabilities are refined with its own network input on the model thread that ran
            it, so the refinement runs as many at once as the passes do and the writer stays light
            (refining after blending drew the same maps but put 0.7 more CPU seconds per 16.8 Mpx
            on the one writer thread, and blended the network input beside the probabilities).
    """
    stats = InferenceStats(tiles=layout.count)
    started = time.perf_counter()
    stop = threading.Event()
    to_model: queue.Queue = queue.Queue(QUEUE_DEPTH)
    to_writer: queue.Queue = queue.Queue(QUEUE_DEPTH)
    reader = _Worker(lambda: _read(source_path, layout, predictor, batch_size, mask, to_model, stop), "low2high-reader")
    writer = _Worker(lambda: _write(layout, predictor.info, classes_band, probabilities, to_writer, stats),
                     "low2high-writer")
    streams = max(1, predictor.streams)
    passes = ThreadPoolExecutor(streams, "low2high-model") if streams > 1 else None
    in_flight: deque = deque()  # (batch, future) in reading order
    reader.start()
    writer.start()
    done = 0
    countdown = Countdown(progress, layout.count, "tiles")  # a line every 30 s of a long run, none in a short one

    def hand_on(batch: _Batch, future: Optional[Future]) -> None:
        nonlocal done
        if future is not None:
            batch.probabilities, seconds = _wait_for(future, progress)
            stats.model_seconds += seconds / streams
            batch.inputs = None
        _put(to_writer, batch, writer, progress)
        done += len(batch.tiles)
        progress.set_fraction(done / layout.count)
        countdown.advance(len(batch.tiles))
        check_canceled(progress)

    try:
        with predictor.running():
            while True:
                batch = _next(to_model, reader, progress)
                if batch is _DONE:
                    break
                future = None
                if batch.inputs is not None:
                    stats.tiles_predicted += len(batch.inputs)
                    stats.computed_pixels += batch.inputs.shape[0] * batch.inputs.shape[2] * batch.inputs.shape[3]
                    future = _start_pass(predictor, batch.inputs, passes, colours)
                in_flight.append((batch, future))
                while len(in_flight) >= streams:
                    hand_on(*in_flight.popleft())
            while in_flight:
                hand_on(*in_flight.popleft())
        _put(to_writer, _DONE, writer, progress)
        writer.join()
        if writer.error:
            raise writer.error
    finally:
        stop.set()
        _drain(to_model)
        if passes is not None:
            passes.shutdown(wait=True, cancel_futures=True)
        if writer.is_alive():
            _put_nowait(to_writer, _DONE)
        reader.join()
        writer.join()
    stats.seconds = time.perf_counter() - started
    stats.reader_cpu_seconds, stats.writer_cpu_seconds = reader.cpu_seconds, writer.cpu_seconds
    return stats


def _timed_pass(predictor: Predictor, inputs: np.ndarray, colours: Optional[ColourModel]) -> tuple[np.ndarray, float]:
    tick = time.perf_counter()
    probabilities = predictor.predict(inputs)
    if colours is not None:
        probabilities = colours.refine(probabilities, inputs)
    return probabilities, time.perf_counter() - tick


def _start_pass(predictor: Predictor, inputs: np.ndarray, passes: Optional[ThreadPoolExecutor],
                colours: Optional[ColourModel]) -> Future:
    """A forward pass (refined by colour when asked) on a model thread, or done right here (one stream) as an
    already-finished future."""
    if passes is not None:
        return passes.submit(_timed_pass, predictor, inputs, colours)
    future: Future = Future()
    future.set_result(_timed_pass(predictor, inputs, colours))
    return future


def _wait_for(future: Future, progress: Progress) -> tuple[np.ndarray, float]:
    """A pass's result, watching for cancel while it runs."""
    while True:
        try:
            return future.result(timeout=0.2)
        except TimeoutError:
            check_canceled(progress)


def _next(channel: queue.Queue, producer: _Worker, progress: Progress):
    """The next item from a producer thread, re-raising its error and watching for cancel."""
    return _wait_on(lambda: channel.get(timeout=0.2), queue.Empty, producer, progress)


def _put(channel: queue.Queue, item, consumer: _Worker, progress: Progress) -> None:
    """Hand an item to a consumer thread, re-raising its error and watching for cancel."""
    _wait_on(lambda: channel.put(item, timeout=0.2), queue.Full, consumer, progress)


def _wait_on(attempt: Callable, busy: type[BaseException], peer: _Worker, progress: Progress):
    """Retry a timed queue operation until it succeeds, the peer thread fails, or the user cancels."""
    while True:
        try:
            return attempt()
        except busy:
            failure = peer.error
            if failure is not None:
                raise failure from None
            check_canceled(progress)


def _put_nowait(channel: queue.Queue, item) -> None:
    _drain(channel)
    channel.put_nowait(item)


def _drain(channel: queue.Queue) -> None:
    try:
        while True:
            channel.get_nowait()
    except queue.Empty:
        pass


def _read(source_path: str, layout: TileLayout, predictor: Predictor, batch_size: int,
          mask: Optional[PolygonMask], channel: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: tiles → masked, normalised, padded batches (row-major order kept)."""
    source = RasterSource.open(source_path, require_crs=False)
    info = predictor.info
    tiles: list = []
    inputs: list = []
    for tile in layout.tiles():
        if stop.is_set():
            return
        tile_input, valid = read_tile(source, tile, layout, info, mask)
        if tile_input is not None:
            inputs.append(tile_input)
        tiles.append((tile, tile_input is not None, valid))
        if len(inputs) == batch_size:
            _send(channel, _Batch(tiles, _as_batch(inputs)), stop)
            tiles, inputs = [], []
    if tiles:
        _send(channel, _Batch(tiles, _as_batch(inputs) if inputs else None), stop)
    _send(channel, _DONE, stop)


def read_tile(source: RasterSource, tile: Tile, layout: TileLayout, info: ModelInfo,
              mask: Optional[PolygonMask]) -> tuple[Optional[np.ndarray], np.ndarray]:
    """One tile as the model takes it: (normalised, padded input or None when it holds no data, padded valid pixels)."""
    read = tile_read_window(tile, layout.region, source.grid.full_window)
    if read is None:  # tiles start inside the region, which lies inside the raster
        raise RuntimeError(f"tile {tile} lies outside the raster")
    pixels = source.read(read)
    valid = source.valid_mask(read, pixels)
    if mask is not None:
        valid &= mask.rasterize(source.grid, read)
    padded = pad_tile(valid, layout.tile_height, layout.tile_width)
    if not valid.any():
        return None, padded
    return network_input(pixels, valid, info, layout.tile_height, layout.tile_width), padded


def _as_batch(inputs: list) -> np.ndarray:
    """(N, bands, H, W) from N tiles; one tile becomes a view (a copy costs a tenth of the reading)."""
    return inputs[0][None] if len(inputs) == 1 else np.stack(inputs)


def _send(channel: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            channel.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _write(layout: TileLayout, info: ModelInfo, classes_band: gdal.Band, probabilities: Optional[gdal.Dataset],
           channel: queue.Queue, stats: InferenceStats) -> None:
    """Writer thread: blend predictions and write every block as soon as it is finished."""
    blender = TileBlender(layout, info.num_classes)
    while True:
        batch = channel.get()
        if batch is _DONE:
            return
        predicted = iter(batch.probabilities if batch.probabilities is not None else ())
        for tile, has_data, valid in batch.tiles:
            for block in blender.add(tile, next(predicted) if has_data else None, valid):
                _write_block(block, classes_band, probabilities, stats, info)


def _write_block(block: BlendedBlock, classes_band: gdal.Band, probabilities: Optional[gdal.Dataset],
                 stats: InferenceStats, info: ModelInfo) -> None:
    window = block.window
    classes = class_map(block.probabilities, info.threshold, info.binary)
    classes[~block.valid] = NODATA
    classes_band.WriteArray(classes, window.col, window.row)
    stats.class_counts += np.bincount(classes.ravel(), minlength=256)
    if probabilities is not None:
        percent = np.rint(block.probabilities * 100).astype(np.uint8)
        percent[:, ~block.valid] = NODATA
        probabilities.WriteRaster(window.col, window.row, window.width, window.height, percent.tobytes(),
                                  buf_type=gdal.GDT_Byte)
