"""Resume a run under ``torchrun`` and record what every rank holds before each step.

    torchrun --nproc_per_node=2 tests/train/ddp_worker.py FAMILY DATA RUN STEPS DIGESTS.json

Used by ``test_distributed.py``: resumes ``RUN`` to ``STEPS`` with ``worldlab.train.train``
and writes, for each step from the restored one on, a SHA-256 of each rank's weights and
optimizer state (its shard of them under FSDP), so the test can see that every DDP rank
started from, and kept, the same state.
"""

import hashlib
import json
import sys

import torch
import torch.distributed as dist

from worldlab.train import train


def digest(trainer) -> str:
    """SHA-256 of the bytes of this rank's weights and optimizer state, in order."""
    tensors = list(trainer.model.state_dict().values())
    for state in trainer.optimizer.state_dict()["state"].values():
        tensors += [value for value in state.values() if isinstance(value, torch.Tensor)]
    sha = hashlib.sha256()
    for tensor in tensors:
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        sha.update(local.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return sha.hexdigest()


def main() -> None:
    family, data, run, steps, out = sys.argv[1:]
    records = []

    def record(trainer):
        digests = [None] * dist.get_world_size()
        dist.all_gather_object(digests, digest(trainer))
        records.append({"step": trainer.step, "digests": digests})
        return None  # never stops training

    summary = train(
        family,
        data,
        run,
        overrides={"train.steps": int(steps)},
        resume=True,
        progress=False,
        stop_when=record,
        check_every=1,
    )
    # Only rank 0 returns from train() (the others exit in distributed.finish).
    with open(out, "w") as file:
        json.dump({"summary": summary, "records": records}, file)


if __name__ == "__main__":
    main()
