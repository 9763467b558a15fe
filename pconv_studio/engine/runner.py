"""One network pass, from a crop's pixels to its composited fill, on one device; replayed from CUDA graphs on GPUs.

Everything between the upload and the download happens on the device, as one step: pixel conversion, the
network under autocast, compositing the prediction into the hole (or, for upscaling, taking the prediction
everywhere), rounding back to 8 bits, and the stage masks flattened into one tensor. So a fill costs one upload,
one download and no per-layer synchronisation.

CUDA graphs: at batch 1 the network is hundreds of small kernels whose launch cost exceeds their work, so on a
GPU a step shape met for the second time is captured in a CUDA graph and replayed from then on. With
`graphs="auto"` the replay is checked against the eager step once (the same fill, and faster) and dropped if
not; "on" keeps every capture, "off" never captures. All graphs share one memory pool, which is safe because
a step's outputs are read back to the host before the next step runs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Callable, Literal, TypeVar

import numpy as np
import torch

from ..model import PConvUNet
from .device import autocast_dtype

__all__ = [
    "GRAPH_MODES", "PRECISIONS", "GraphMode", "NetworkRunner", "Precision", "capture_cuda_graph", "runner_on",
]

log = logging.getLogger(__name__)

GraphMode = Literal["auto", "on", "off"]
GRAPH_MODES: tuple[GraphMode, ...] = ("auto", "on", "off")
Precision = Literal["auto", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32")

_StepKey = tuple[tuple[int, ...], torch.dtype]
T = TypeVar("T")


class _FillStep(torch.nn.Module):
    """pixels (H, W, 3) uint8 or float32 in [0, 1] and valid (H, W) bool -> (composite like the pixels, flat holes,
    stage sizes).

    `flat holes` is every stage mask (True = hole) flattened and concatenated, for a single transfer. With
    `composite=False` the "composite" is the network's prediction at every pixel, valid ones included.
    """

    def __init__(self, model: PConvUNet, device: torch.device, dtype: torch.dtype | None, composite: bool) -> None:
        super().__init__()
        self.model = model
        self.device_type = device.type
        self.autocast_dtype = dtype
        self.composite = composite

    def forward(
        self, pixels: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        eight_bit = pixels.dtype == torch.uint8
        # an (H, W, 3) tensor seen as (1, 3, H, W) is already channels_last: no transpose copy
        image = pixels.permute(2, 0, 1)[None].float()
        if eight_bit:
            image = image / 255.0
        mask = valid[None, None].float()
        dtype = self.autocast_dtype
        with torch.autocast(self.device_type, dtype=dtype or torch.float32, enabled=dtype is not None,
                            cache_enabled=False):  # a weight cast cache cannot live inside a CUDA graph
            output = self.model(image, mask)
        prediction = output.image.float()
        composite = (torch.where(mask > 0, image, prediction) if self.composite else prediction)[0].permute(1, 2, 0)
        if eight_bit:
            composite = (composite * 255.0 + 0.5).clamp_(0.0, 255.0).to(torch.uint8)
        holes = torch.cat([(stage[0, 0] == 0).flatten() for stage in output.stage_masks])
        return composite.contiguous(), holes, [tuple(stage.shape[-2:]) for stage in output.stage_masks]


def capture_cuda_graph(
    function: Callable[..., T], *static_inputs: torch.Tensor, pool: tuple[int, int] | None = None
) -> tuple[torch.cuda.CUDAGraph, T]:
    """Capture one call of `function` on `static_inputs` (CUDA tensors); returns the graph and that call's outputs.

    Replaying the graph reruns the call on whatever the static inputs hold then, into the same output tensors.
    Two warm-up calls run first on a side stream, so that cuDNN autotuning and the allocator happen outside.
    """
    device = static_inputs[0].device
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(2):
            function(*static_inputs)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        outputs = function(*static_inputs)
    return graph, outputs


@dataclass
class _Graph:
    """A captured step: copy inputs into `pixels` and `valid`, replay, read `composite` and `holes`."""

    graph: torch.cuda.CUDAGraph
    pixels: torch.Tensor
    valid: torch.Tensor
    composite: torch.Tensor
    holes: torch.Tensor
    stage_sizes: list[tuple[int, int]]


class NetworkRunner:
    """Runs the fill step for crops of any size; keeps up to `capacity` CUDA graphs, the least recently used go.

    `precision="auto"` runs the convolutions in the device's fast reduced precision (`autocast_dtype`: bf16 or
    fp16 on GPUs, bf16 on CPUs that have it natively), "fp32" in full precision; masks are float32 always.
    `composite=False` returns the network's prediction at every pixel (upscaling: a known grid pixel is an area
    average, not the value the network is trained to predict there), in the same dtypes.
    """

    def __init__(
        self, model: PConvUNet, device: torch.device, graphs: GraphMode = "auto", capacity: int = 4,
        precision: Precision = "auto", composite: bool = True,
    ) -> None:
        if graphs not in GRAPH_MODES:
            raise ValueError(f"graphs must be one of {GRAPH_MODES}, not {graphs!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.device = device
        self.graphs_mode: GraphMode = graphs if device.type == "cuda" else "off"
        self.capacity = capacity
        self.dtype = autocast_dtype(device) if precision == "auto" else None
        self._step = _FillStep(model, device, self.dtype, composite)
        self._seen: Counter[_StepKey] = Counter()
        self._graphs: OrderedDict[_StepKey, _Graph | None] = OrderedDict()  # None: the check said no, run eager
        self._pool = None

    @property
    def graph_count(self) -> int:
        """How many step shapes are replayed from a CUDA graph now."""
        return sum(graph is not None for graph in self._graphs.values())

    def reset(self) -> None:
        """Drop every captured graph and its memory (after a CUDA out-of-memory error)."""
        self._graphs.clear()
        self._seen.clear()
        self._pool = None

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """`pixels` (H, W, 3) uint8, or float32 in [0, 1]; `valid` (H, W) bool. Returns the composite (the input
        outside the hole, the network's prediction inside, in the input's dtype; the prediction everywhere without
        compositing) and the stage masks (True = hole)."""
        on_cuda = self.device.type == "cuda"
        host_pixels = torch.from_numpy(np.ascontiguousarray(pixels))
        host_valid = torch.from_numpy(np.ascontiguousarray(valid, dtype=bool))
        if on_cuda:
            host_pixels, host_valid = host_pixels.pin_memory(), host_valid.pin_memory()
        key: _StepKey = (tuple(host_pixels.shape), host_pixels.dtype)
        graph = self._graph_for(key, host_pixels, host_valid) if self.graphs_mode != "off" else None
        if graph is not None:
            graph.pixels.copy_(host_pixels, non_blocking=True)
            graph.valid.copy_(host_valid, non_blocking=True)
            graph.graph.replay()
            composite, holes, sizes = graph.composite, graph.holes, graph.stage_sizes
        else:
            composite, holes, sizes = self._step(
                host_pixels.to(self.device, non_blocking=on_cuda), host_valid.to(self.device, non_blocking=on_cuda)
            )
        flat = holes.cpu().numpy()
        offsets = np.cumsum([0] + [height * width for height, width in sizes])
        stages = [flat[start:stop].reshape(size) for start, stop, size in zip(offsets[:-1], offsets[1:], sizes)]
        return composite.cpu().numpy(), stages

    def _graph_for(self, key: _StepKey, pixels: torch.Tensor, valid: torch.Tensor) -> _Graph | None:
        """The graph for this shape, captured now if the shape is met for the second time; None: run eager."""
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return self._graphs[key]
        self._seen[key] += 1
        if self._seen[key] < 2:
            return None  # a shape met once (one odd crop) is not worth a capture
        try:
            graph = self._capture(key, pixels, valid)
        except torch.cuda.OutOfMemoryError:
            self.reset()
            raise
        except RuntimeError as error:  # a capture that fails is a missed speed-up, never a failed fill
            log.warning("CUDA graph capture failed for %s, running eagerly: %s", key, error)
            graph = None
        if graph is not None and self.graphs_mode == "auto" and not self._graph_is_worth_it(key, graph):
            graph = None
        self._graphs[key] = graph
        while len(self._graphs) > self.capacity:
            self._graphs.popitem(last=False)
        return graph

    def _capture(self, key: _StepKey, pixels: torch.Tensor, valid: torch.Tensor) -> _Graph:
        static_pixels = pixels.to(self.device, copy=True)  # buffers of its own: later inputs are copied in
        static_valid = valid.to(self.device, copy=True)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph, outputs = capture_cuda_graph(self._step, static_pixels, static_valid, pool=self._pool)
        log.info("captured a CUDA graph for a %s %s step", "x".join(map(str, key[0])), key[1])
        return _Graph(graph, static_pixels, static_valid, *outputs)

    def _graph_is_worth_it(self, key: _StepKey, graph: _Graph) -> bool:
        """Replay and eager step on the captured inputs: the replay must give the same fill (to one 8-bit step, as
        autotuned kernels may round differently) and be faster (best of three each)."""

        def best_of_three(run: Callable[[], object]) -> float:
            times = []
            for _ in range(3):
                torch.cuda.synchronize(self.device)
                start = time.perf_counter()
                run()
                torch.cuda.synchronize(self.device)
                times.append(time.perf_counter() - start)
            return min(times)

        device_pixels, device_valid = graph.pixels.clone(), graph.valid.clone()
        composite, holes, _ = self._step(device_pixels, device_valid)
        graph.graph.replay()
        tolerance = 1.0 if composite.dtype == torch.uint8 else 1.0 / 255.0
        difference = (graph.composite.float() - composite.float()).abs().max().item()
        if difference > tolerance or not torch.equal(graph.holes, holes):
            log.warning("CUDA graph for %s disagrees with the eager step (%.4f): running eagerly", key, difference)
            return False
        eager = best_of_three(lambda: self._step(device_pixels, device_valid))
        replayed = best_of_three(graph.graph.replay)
        log.info("step %s: eager %.2f ms, CUDA graph %.2f ms", key, 1000 * eager, 1000 * replayed)
        return replayed < eager


def runner_on(
    model: PConvUNet, device: torch.device, graphs: GraphMode, precision: Precision, composite: bool = True
) -> NetworkRunner:
    """Move `model`'s weights to `device` once, in channels_last (the layout oneDNN and cuDNN are fastest in; crops
    arrive as HxWxC, which is that layout already), and a `NetworkRunner` for it."""
    model.to(device, memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return NetworkRunner(model, device, graphs=graphs, precision=precision, composite=composite)
