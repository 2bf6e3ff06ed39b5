"""Rank awareness for training under ``torchrun``: one process per device, gloo on CPU.

Two strategies hold the model across processes (``train.strategy``):

- ``ddp``: a whole replica per process; gradients are averaged after every backward
  (PyTorch DDP).
- ``fsdp``: each process holds a shard of the weights, gradients and optimizer state;
  weights are gathered for a forward or backward and freed after it (PyTorch FSDP2,
  ``fully_shard``), so a model too large to train in one device's memory still trains.

Checkpoints are the same plain files either way: under FSDP the full state is gathered
on rank 0 before it is written, and every rank loads the full state on resume, keeping
only its shard. So a run may continue under either strategy, or in one process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: torch.device) -> Ranks:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Ranks()
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL and object collectives use the current device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def finish(ranks: Ranks) -> None:
    """Leave the group. Workers other than rank 0 exit hard right here: gloo's teardown at
    interpreter exit sometimes aborts, and only rank 0 has anything left to report."""
    if not ranks.distributed:
        return
    dist.barrier()
    dist.destroy_process_group()
    if ranks.rank != 0:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device(f"cuda:{local_rank}")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# -- agreeing across ranks ---------------------------------------------------------------
def from_main(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (picklable values; a collective: all ranks call it)."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flags: list[bool], device: torch.device) -> list[bool]:
    """Each flag true on every rank when it is true on any (a collective)."""
    if not dist.is_initialized():
        return flags
    tensor = torch.tensor([int(flag) for flag in flags], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(flag) for flag in tensor.tolist()]


def check_same(value: Any, what: str) -> None:
    """Raise on every rank when ranks hold different ``value``s (e.g. datasets that differ
    between nodes, which would break the sharding of batches silently)."""
    if not dist.is_initialized():
        return
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    if any(other != values[0] for other in values):
        from worldlab.errors import WorldlabError

        raise WorldlabError(
            f"the processes of this run see different {what}: "
            + "; ".join(f"rank {rank}: {other}" for rank, other in enumerate(values))
            + ". Every process must read the same data (a shared filesystem, or identical "
            "copies at the same path on every node)"
        )


# -- holding the model -------------------------------------------------------------------
def wrap(model: nn.Module, strategy: str, ranks: Ranks, device: torch.device) -> nn.Module:
    """The model as training calls it: itself in one process (whatever the strategy),
    a DDP replica, or sharded in place by FSDP. Build the optimizer after this call: FSDP
    replaces the parameters with their shards."""
    if not ranks.distributed:
        return model
    if strategy == "fsdp":
        return _shard(model, device)
    device_ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _shard(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    for parameter in model.parameters():
        if not parameter.is_contiguous():  # FSDP shards contiguous tensors only
            parameter.data = parameter.data.contiguous()  # e.g. channels_last conv weights
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for unit in _shard_units(model):
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)  # everything else: gathered for the whole forward
    return model


def _shard_units(module: nn.Module, in_stack: bool = False) -> list[nn.Module]:
    """Submodules gathered on their own, children before parents: every trained block of a
    stack (an ``nn.ModuleList``, e.g. transformer blocks), so one block at a time is whole
    in memory, and every frozen module (e.g. EMA weights), which training never gathers."""
    units = []
    for child in module.children():
        parameters = list(child.parameters())
        if not parameters or not _has_forward(child):
            units += _shard_units(child, isinstance(child, nn.ModuleList))
            continue
        if not any(parameter.requires_grad for parameter in parameters):
            units.append(child)
            continue
        units += _shard_units(child, isinstance(child, nn.ModuleList))
        if in_stack:
            units.append(child)
    return units


def _has_forward(module: nn.Module) -> bool:
    """FSDP cannot shard plain containers (``ModuleList``, ``ModuleDict``) as units."""
    return type(module).forward is not nn.Module.forward


def is_sharded(model: nn.Module) -> bool:
    if not dist.is_available():
        return False
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool):
    """Inside the block, backward averages gradients across ranks only when ``enabled``
    (gradient accumulation syncs on the last micro-batch alone)."""
    if enabled or not dist.is_initialized():
        yield
    elif isinstance(model, nn.parallel.DistributedDataParallel):
        with model.no_sync():
            yield
    elif is_sharded(model):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP replica (whose own state dict prefixes every name)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def plain(value: Any) -> Any:
    """A DTensor (e.g. the gradient norm of sharded gradients) as a plain tensor."""
    return value.full_tensor() if hasattr(value, "full_tensor") else value


# -- checkpoints -------------------------------------------------------------------------
def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """``(weights, optimizer_state)`` as one process holds them: ``model.state_dict()``
    and ``optimizer.state_dict()``. Sharded, they are gathered onto rank 0's CPU (a
    collective: every rank calls it; the others get empty dicts)."""
    if not is_sharded(model):
        return unwrap(model).state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=options)
    by_name = get_optimizer_state_dict(model, optimizer, options=options)
    if not by_name:
        return weights, {}
    return weights, _numbered(by_name, _parameter_names(model, optimizer))


def load_full_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, weights: dict, optimizer_state: dict
) -> None:
    """Load what ``full_state`` returned (read from a checkpoint) on this rank; sharded,
    each rank keeps its own shard of it."""
    if not is_sharded(model):
        unwrap(model).load_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, dict(weights), options=options)
    by_name = _named(optimizer_state, _parameter_names(model, optimizer))
    set_optimizer_state_dict(model, optimizer, by_name, options=options)


def _parameter_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Each optimized parameter's name, in the order ``optimizer.state_dict()`` numbers them."""
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _numbered(state: dict, names: list[str]) -> dict:
    """Optimizer state keyed by parameter name (FSDP's full state) → by number (PyTorch's)."""
    number = {name: index for index, name in enumerate(names)}
    return {
        "state": {number[name]: value for name, value in state["state"].items()},
        "param_groups": [
            {**group, "params": [number[name] for name in group["params"]]}
            for group in state["param_groups"]
        ],
    }


def _named(state: dict, names: list[str]) -> dict:
    return {
        "state": {names[index]: value for index, value in state["state"].items()},
        "param_groups": [
            {**group, "params": [names[index] for index in group["params"]]}
            for group in state["param_groups"]
        ],
    }
