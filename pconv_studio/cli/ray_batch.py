"""`inpaint --images ... --ray [ADDRESS]`: a batch on a Ray cluster (the optional extra `pconv-studio[ray]`).

The model is loaded once per actor (`FillWorker`): one actor per GPU of the cluster, each holding one GPU and one
CPU (with `--device auto` or `cuda`), or, on a cluster without GPUs (or with `--device cpu`), one per CPU slot, each holding that slot (torch then
runs one thread per actor, as Ray sets OMP_NUM_THREADS to the actor's CPUs). Reading and writing the files run in
tasks on the node of the actor that fills them, so pixels never cross the network; they ask Ray for no CPU of
their own and are bounded instead by the driver, which keeps `depth` photos in flight per actor (2, plus the
cluster's CPU slots that no actor holds, shared out among the actors, so GPU actors get enough decoders to stay
busy).

Each job is the same three steps as the sequential run (`read_inputs`, `fill_job`, `write_outputs` of
`cli.inpaint`), with the same settings, so outputs are the same files. A file that fails (unreadable, damaged, a
worker killed while filling it) is reported on one line and skipped; the others go on, and the exit code is 2.
Outputs are written atomically, so a run stopped at any point is resumed with `--skip-existing`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..engine.imageio import SaveOptions
from ..engine.inpainter import InpaintResult
from ..errors import InputError, PConvError
from .batch import BatchTally
from .inpaint import FillSettings, Job, JobInputs, describe_job, fill_job, open_inpainter, read_inputs, write_outputs

log = logging.getLogger(__name__)

_models_loaded = 0  # in this process: a Ray worker process runs one actor, so this is that actor's count


@dataclass(frozen=True)
class WorkerReport:
    """What one actor did: its process and node, its device, how often it loaded the model, how many photos."""

    pid: int
    node: str
    device: str
    model_loads: int
    photos: int


class FillWorker:
    """A Ray actor that loads the model once and fills every job sent to it."""

    def __init__(self, settings: FillSettings) -> None:
        global _models_loaded
        self._photos = 0
        self._problem: PConvError | None = None
        try:
            self._inpainter = open_inpainter(settings)
        except PConvError as error:  # raised again by `node`: a method's error reaches the driver as it is
            self._problem = error
            return
        _models_loaded += 1

    def node(self) -> str:
        """The node this actor runs on; raises the `PConvError` that kept it from loading the model."""
        import ray

        if self._problem is not None:
            raise self._problem
        return ray.get_runtime_context().get_node_id()

    def fill(self, inputs: JobInputs) -> InpaintResult:
        self._photos += 1
        # arrays from Ray's object store are read-only, and torch.from_numpy wants writable memory
        writable = replace(inputs, pixels=np.array(inputs.pixels), hole=np.array(inputs.hole))
        return fill_job(self._inpainter, writable)

    def report(self) -> WorkerReport:
        return WorkerReport(os.getpid(), self.node(), self._inpainter.device_description, _models_loaded,
                            self._photos)


def _read(job: Job, allow_damaged: bool) -> JobInputs:
    return read_inputs(job, allow_damaged)


def _write(job: Job, inputs: JobInputs, result: InpaintResult, options: SaveOptions) -> tuple[list[str], str]:
    return write_outputs(job, inputs, result, options), describe_job(job, result)


def import_ray() -> Any:
    """The `ray` module, or `InputError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray, an optional extra: pip install 'pconv-studio[ray]'") from None
    return ray


def run_on_ray(jobs: list[Job], settings: FillSettings, options: SaveOptions, allow_damaged: bool,
               address: str) -> int:
    """Fill `jobs` on the Ray cluster at `address` ("" = RAY_ADDRESS, a cluster running on this machine, else a
    new local one); a Ray already initialised in this process (a script, a test) is used as it is. Returns the
    exit code: 0, or 2 when any photo failed (each failure reported on stderr)."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address or None, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise InputError(f"cannot reach the Ray cluster {address or '(local)'}: {error}") from None
    try:
        return _run(ray, jobs, settings, options, allow_damaged)
    finally:
        if started:
            ray.shutdown()


def _run(ray: Any, jobs: list[Job], settings: FillSettings, options: SaveOptions, allow_damaged: bool) -> int:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    from tqdm import tqdm

    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 0))
    gpus = int(resources.get("GPU", 0)) if settings.device == "auto" or settings.device.startswith("cuda") else 0
    count = min(len(jobs), gpus or max(cpus, 1))
    actor_options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
    depth = 2 + max(cpus - count, 0) // count if gpus else 2
    if gpus:  # Ray shows each GPU actor only the GPU it was given, as cuda:0
        settings = replace(settings, device="cuda")
    actors = [ray.remote(FillWorker).options(max_restarts=3, **actor_options).remote(settings) for _ in range(count)]
    try:
        nodes = ray.get([actor.node.remote() for actor in actors])  # also waits for every model to be loaded
    except ray.exceptions.RayTaskError as error:  # no model (weights missing or unusable, no such device)
        cause = getattr(error, "cause", None)
        if isinstance(cause, PConvError):
            raise cause from None
        raise
    log.info("%d Ray workers on %s, %d photos in flight each", count, "GPUs" if gpus else "CPU slots", depth)
    read = ray.remote(num_cpus=0)(_read)
    write = ray.remote(num_cpus=0)(_write)

    waiting = deque(jobs)
    in_flight: dict[Any, tuple[Job, int]] = {}
    load = [0] * count

    def submit(index: int) -> None:
        while waiting and load[index] < depth:
            job = waiting.popleft()
            here = NodeAffinitySchedulingStrategy(nodes[index], soft=True)
            inputs = read.options(scheduling_strategy=here).remote(job, allow_damaged)
            result = actors[index].fill.remote(inputs)
            in_flight[write.options(scheduling_strategy=here).remote(job, inputs, result, options)] = (job, index)
            load[index] += 1

    tally = BatchTally(len(jobs))
    for index in range(count):
        submit(index)
    with tqdm(total=len(jobs), desc="inpainting on Ray", unit="photo", file=sys.stderr) as progress:
        while in_flight:
            [done], _ = ray.wait(list(in_flight), num_returns=1)
            job, index = in_flight.pop(done)
            load[index] -= 1
            try:
                notices, description = ray.get(done)
            except ray.exceptions.RayTaskError as error:
                tally.fail(job.image.name, _cause(error))
            except ray.exceptions.RayError as error:  # the worker died (killed for memory?) or left the cluster
                tally.fail(job.image.name, f"the Ray worker filling it failed: {str(error).splitlines()[0]}")
            else:
                for notice in notices:
                    log.warning("%s", notice)
                log.info("%s", description)
            progress.update()
            submit(index)
    for report in ray.get([actor.report.remote() for actor in actors]):
        log.info("Ray worker pid %d on node %s (%s): model loaded %d time(s), %d photos", report.pid,
                 report.node[:8], report.device, report.model_loads, report.photos)
    return tally.exit_code()


def _cause(error: Exception) -> str:
    """The user's sentence for a task's error: a `PConvError` as it is, anything else with its type."""
    cause = getattr(error, "cause", None) or error
    return str(cause) if isinstance(cause, PConvError) else f"{type(cause).__name__}: {cause}"
