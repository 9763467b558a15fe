"""Fills run in a worker thread, so the window keeps painting, zooming and redrawing the panel meanwhile.

`InpaintWorker` lives in the thread and owns the engine (loading the weights happens there too). The GUI-thread
`InpaintController` decides what runs, Qt-mandelbrot style: the newest request wins. Asking for a fill while one
runs cancels the running one if its input is out of date (its result would be stale anyway) and queues the new
one in place of any queued before, so requests never pile up; a result is only handed on if no newer request was
made and nobody cancelled it. Only copied numpy arrays cross the thread boundary.

The same thread upscales (Image → Upscale…): an `UpscaleRequest` takes its turn in the same queue (a fill asked for
meanwhile replaces it, and the other way round), and the upscaler is loaded there the first time it is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..editing.mask_ops import StageStack, stages_from_upscale
from ..engine import CancelToken, Inpainter
from ..engine.upscale import UpscaleResult, Upscaler
from ..errors import CancelledError, DeviceError, PConvError, WeightsError
from ..paths import upscale_grid_weights_path

__all__ = ["InpaintController", "InpaintRequest", "InpaintWorker", "Upscaled", "UpscaleRequest", "start_in_thread",
           "stop_thread"]

log = logging.getLogger(__name__)

EngineFactory = Callable[[object, str], object]  # (weights path or None, device) -> an engine like Inpainter
UpscalerFactory = Callable[[object, str], object]  # (weights path or None, device) -> an engine like Upscaler


def start_in_thread(worker: QObject, name: str) -> QThread:
    """Move `worker` to a new thread of its own (the caller keeps a reference: Python owns the worker)."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    return thread


def stop_thread(thread: QThread, timeout_ms: int = 30_000) -> None:
    """Let the thread finish its current job (cancel it first) and wait for it, so nothing outlives the window."""
    thread.quit()
    if not thread.wait(timeout_ms):
        log.error("thread %s did not stop within %d ms", thread.objectName(), timeout_ms)


@dataclass(frozen=True, eq=False)
class InpaintRequest:
    serial: int
    pixels: np.ndarray
    hole: np.ndarray  # bool, True = hole: the mask this fill fills
    key: Hashable  # identifies the input (document, revision and fill style): the same key twice is the same fill
    cancel: CancelToken
    detail: float = 0.0  # the fill style: 0 = faithful ... 1 = detailed (see engine/blend.py)


@dataclass(frozen=True, eq=False)
class UpscaleRequest:
    serial: int
    pixels: np.ndarray
    scale: float  # output size over input size, MIN_SCALE to MAX_SCALE (engine/upscale.py)
    key: Hashable  # identifies the input (document, revision, scale, model)
    cancel: CancelToken
    on_grid: bool = False  # the partial-convolution grid model instead of the default upscaling model


@dataclass(frozen=True, eq=False)
class Upscaled:
    """What an upscale hands the window: the engine's result, the panel's stages of its grid (computed in the
    worker thread too), and the model that made it."""

    result: UpscaleResult
    stages: StageStack | None
    model_name: str


class InpaintWorker(QObject):
    """Runs in the worker thread: loads the engine, fills, upscales (loading the upscaler the first time),
    switches devices; reports through signals only."""

    loaded = Signal(str, str, object, object)  # model name, device description, UNetConfig, ResolutionConfig
    loadFailed = Signal(str)
    detailChecked = Signal(object)  # None if the engine can blend in a detailed model, else why not (str)
    notice = Signal(str)
    deviceChanged = Signal(str)
    deviceFailed = Signal(str)
    progressed = Signal(int, float, str)  # serial, fraction, message
    finished = Signal(int, object)  # serial, InpaintResult or Upscaled
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, engine_factory: EngineFactory, upscaler_factory: UpscalerFactory = Upscaler,
                 upscale_weights: object = None) -> None:
        super().__init__()
        self._engine_factory = engine_factory
        self._upscaler_factory = upscaler_factory
        self._upscale_weights = upscale_weights  # None: the engine's default (paths.upscale_weights_path())
        self._device = "auto"  # as asked for, for the upscaler when it loads
        self.engine = None
        self.upscalers: dict[bool, Upscaler] = {}  # by `on_grid`, each loaded by its first upscale

    @Slot(object, str)
    def load(self, weights: object, device: str) -> None:
        self._device = device
        try:
            try:
                self.engine = self._engine_factory(weights, device)
            except DeviceError as error:
                self.notice.emit(f"{error}; using the automatic choice instead")
                self._device = "auto"
                self.engine = self._engine_factory(weights, "auto")
        except PConvError as error:
            self.loadFailed.emit(str(error))
            return
        engine = self.engine
        self.detailChecked.emit(engine.detail_problem)
        self.loaded.emit(engine.model_name, engine.device_description, engine.config, engine.resolution)

    @Slot(str)
    def set_device(self, device: str) -> None:
        try:
            self.engine.set_device(device)
            for upscaler in self.upscalers.values():
                upscaler.set_device(device)
        except PConvError as error:
            self.deviceFailed.emit(str(error))
            return
        self._device = device
        self.deviceChanged.emit(self.engine.device_description)

    @Slot(bool)
    def set_detail_transfer(self, on: bool) -> None:
        if self.engine is not None:
            self.engine.set_detail_transfer(on)

    @Slot(object)
    def run(self, request: InpaintRequest) -> None:
        def fill() -> object:
            self.engine.set_detail(request.detail)
            return self.engine.inpaint(request.pixels, request.hole, progress=self._progress(request),
                                       cancel=request.cancel)

        self._report(request.serial, "fill", fill)

    @Slot(object)
    def upscale(self, request: UpscaleRequest) -> None:
        def upscale() -> object:
            upscaler = self.upscalers.get(request.on_grid)
            if upscaler is None:
                weights = upscale_grid_weights_path() if request.on_grid else self._upscale_weights
                try:
                    upscaler = self._upscaler_factory(weights, self._device)
                except WeightsError as error:  # nothing kept: the next upscale looks for the model again
                    raise WeightsError(f"{error} (the app takes one with --upscale-weights FILE)") from error
                self.upscalers[request.on_grid] = upscaler
                log.info("upscaler %s loaded on %s", upscaler.model_name, upscaler.device_description)
            result = upscaler.upscale(request.pixels, request.scale, progress=self._progress(request),
                                      cancel=request.cancel)
            stages = stages_from_upscale(result, upscaler.config, request.pixels.shape[:2])
            return Upscaled(result, stages, upscaler.model_name)

        self._report(request.serial, "upscale", upscale)

    def _progress(self, request: InpaintRequest | UpscaleRequest) -> Callable[[float, str], None]:
        def progress(fraction: float, message: str) -> None:
            self.progressed.emit(request.serial, fraction, message)
        return progress

    def _report(self, serial: int, what: str, job: Callable[[], object]) -> None:
        """Run `job` and report its outcome as `finished`, `cancelled` or `failed`."""
        try:
            result = job()
        except CancelledError:
            self.cancelled.emit(serial)
        except PConvError as error:
            self.failed.emit(serial, str(error))
        except MemoryError:
            self.failed.emit(serial, f"the {what} ran out of memory: the photo is too large for this machine")
        except Exception as error:  # a bug must not kill the thread silently: the user sees it, the app goes on
            log.exception("the %s failed", what)
            self.failed.emit(serial, f"the {what} failed unexpectedly: {error}")
        else:
            self.finished.emit(serial, result)


class InpaintController(QObject):
    """GUI-thread side of the worker: owns the thread, decides what runs (fills and upscales, one queue) and
    which results count. Fills report through `finished`, `failed` and `cancelled`; upscales through
    `upscaled`, `upscaleFailed` and `upscaleCancelled`."""

    ready = Signal(str, str)  # model name, device description
    unavailable = Signal(str)  # why there is no model to fill with
    notice = Signal(str)
    busyChanged = Signal(bool)
    progressed = Signal(float, str)
    finished = Signal(object, object)  # InpaintRequest, InpaintResult: current and not cancelled
    failed = Signal(str)
    cancelled = Signal()
    upscaled = Signal(object, object)  # UpscaleRequest, Upscaled: current and not cancelled
    upscaleFailed = Signal(str)
    upscaleCancelled = Signal()
    deviceChanged = Signal(str)
    deviceFailed = Signal(str)

    _loadRequested = Signal(object, str)
    _runRequested = Signal(object)
    _upscaleRequested = Signal(object)
    _deviceRequested = Signal(str)
    _detailTransferRequested = Signal(bool)

    def __init__(self, engine_factory: EngineFactory = Inpainter, parent: QObject | None = None,
                 upscaler_factory: UpscalerFactory = Upscaler, upscale_weights: object = None) -> None:
        super().__init__(parent)
        self.config = None  # the engine's UNetConfig once loaded
        self.resolution = None
        self.detail_problem: str | None = "the model is still loading"  # None: fill styles other than 0 work
        self._serial = 0
        self._running: InpaintRequest | None = None
        self._queued: InpaintRequest | None = None
        self._dropped: set[int] = set()  # serials whose results must not be used
        self._worker = worker = InpaintWorker(engine_factory, upscaler_factory, upscale_weights)  # Python owns it
        self._loadRequested.connect(worker.load)
        self._runRequested.connect(worker.run)
        self._upscaleRequested.connect(worker.upscale)
        self._deviceRequested.connect(worker.set_device)
        self._detailTransferRequested.connect(worker.set_detail_transfer)
        worker.loaded.connect(self._on_loaded)
        worker.loadFailed.connect(self._on_load_failed)
        worker.detailChecked.connect(self._on_detail_checked)
        worker.notice.connect(self.notice)
        worker.deviceChanged.connect(self.deviceChanged)
        worker.deviceFailed.connect(self.deviceFailed)
        worker.progressed.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._thread = start_in_thread(worker, "inpaint-worker")

    @property
    def available(self) -> bool:
        return self.config is not None

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def upscaling(self) -> bool:
        """An upscale is running (or waiting to)."""
        return isinstance(self._running, UpscaleRequest) or isinstance(self._queued, UpscaleRequest)

    def load(self, weights: object, device: str) -> None:
        self.config = None
        self.detail_problem = "the model is still loading"
        self._loadRequested.emit(weights, device)

    def set_device(self, device: str) -> None:
        self._deviceRequested.emit(device)

    def set_detail_transfer(self, on: bool) -> None:
        """Detail transfer on or off for the fills from now on (queued behind a load, so it holds for a new
        engine too)."""
        self._detailTransferRequested.emit(on)

    def request(self, pixels: np.ndarray, hole: np.ndarray, key: Hashable, detail: float = 0.0) -> None:
        """Fill `hole` in `pixels` (both copied now) in the fill style `detail`; the newest request wins. `key`
        must tell this request from any other, the style included."""
        if not self._already_running(key):
            self._serial += 1
            self._submit(InpaintRequest(self._serial, pixels.copy(), hole.copy(), key, CancelToken(), detail))

    def request_upscale(self, pixels: np.ndarray, scale: float, on_grid: bool, key: Hashable) -> None:
        """Upscale `pixels` (copied now) by `scale`, with the grid model when `on_grid`, in the same queue as the
        fills (the newest request wins)."""
        if not self._already_running(key):
            self._serial += 1
            self._submit(UpscaleRequest(self._serial, pixels.copy(), scale, key, CancelToken(), on_grid))

    def _already_running(self, key: Hashable) -> bool:
        running = self._running
        return running is not None and running.key == key and self._queued is None \
            and running.serial not in self._dropped

    def _submit(self, request: InpaintRequest | UpscaleRequest) -> None:
        running = self._running
        if running is None:
            self._start(request)
            return
        if self._queued is not None:
            log.info("fill %d replaced by %d before it started", self._queued.serial, request.serial)
        self._queued = request
        if running.key != request.key:
            self._drop(running)

    def cancel(self) -> None:
        """Esc: drop the queued fill and stop the running one; its result is discarded, the mask kept."""
        self._queued = None
        if self._running is not None:
            self._drop(self._running)

    def shutdown(self) -> None:
        self.cancel()
        stop_thread(self._thread)

    def _drop(self, request: InpaintRequest | UpscaleRequest) -> None:
        self._dropped.add(request.serial)
        request.cancel.cancel()

    def _start(self, request: InpaintRequest | UpscaleRequest) -> None:
        idle = self._running is None
        self._running = request
        self._dispatch(request)
        if idle:
            self.busyChanged.emit(True)

    def _ended(self, serial: int) -> bool:
        """The running fill ended: start the queued one, if any. True if its outcome is the one to show."""
        current = self._current(serial)
        queued, self._queued = self._queued, None
        self._dropped.discard(serial)
        if queued is not None:
            log.info("fill %d ended; starting the newer request %d", serial, queued.serial)
            self._running = queued
            self._dispatch(queued)
        else:
            ended, self._running = self._running, None
            self.busyChanged.emit(False)
            if not current:
                (self.upscaleCancelled if isinstance(ended, UpscaleRequest) else self.cancelled).emit()
        return current

    def _dispatch(self, request: InpaintRequest | UpscaleRequest) -> None:
        (self._upscaleRequested if isinstance(request, UpscaleRequest) else self._runRequested).emit(request)

    def _current(self, serial: int) -> bool:
        return self._running is not None and serial == self._running.serial and serial not in self._dropped

    @Slot(str, str, object, object)
    def _on_loaded(self, model_name: str, device: str, config: object, resolution: object) -> None:
        self.config, self.resolution = config, resolution
        self.ready.emit(model_name, device)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.detail_problem = message
        self.unavailable.emit(message)

    @Slot(object)
    def _on_detail_checked(self, problem: object) -> None:
        self.detail_problem = problem

    @Slot(int, float, str)
    def _on_progress(self, serial: int, fraction: float, message: str) -> None:
        if self._current(serial):
            self.progressed.emit(fraction, message)

    @Slot(int, object)
    def _on_finished(self, serial: int, result: object) -> None:
        request = self._running
        if self._ended(serial):
            (self.upscaled if isinstance(request, UpscaleRequest) else self.finished).emit(request, result)

    @Slot(int, str)
    def _on_failed(self, serial: int, message: str) -> None:
        request = self._running
        if self._ended(serial):
            (self.upscaleFailed if isinstance(request, UpscaleRequest) else self.failed).emit(message)

    @Slot(int)
    def _on_cancelled(self, serial: int) -> None:
        self._ended(serial)
