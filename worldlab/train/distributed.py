"""Rank awareness for PyTorch DDP under ``torchrun``: one process per device, gloo on CPU."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
