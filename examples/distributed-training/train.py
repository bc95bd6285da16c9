"""A minimal data-parallel PyTorch run that resumes from its latest S3 checkpoint.

torchrun starts it on every node (Kubeflow Trainer's torch runtime sets PET_NNODES, PET_NODE_RANK,
PET_MASTER_ADDR, ...); replace the model and data with yours. Every CHECKPOINT_EVERY steps rank 0
writes a checkpoint under CHECKPOINT_URI; when a node is lost (a spot interruption) JobSet restarts
the gang and every rank loads the latest checkpoint instead of starting again from step 0.
"""

from __future__ import annotations

import io
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import checkpoints

STEPS = int(os.environ.get("STEPS", "10000"))
EVERY = int(os.environ.get("CHECKPOINT_EVERY", "500"))
URI = os.environ["CHECKPOINT_URI"]


def main() -> None:
    dist.init_process_group("nccl")
    rank, local = dist.get_rank(), int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    model = DistributedDataParallel(torch.nn.Linear(1024, 1024).cuda(), device_ids=[local])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    start = 0
    found = checkpoints.latest(URI)
    if found:
        state = torch.load(io.BytesIO(checkpoints.load(URI, found[1])), map_location="cuda")
        model.module.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = found[0]
        if rank == 0:
            print(f"resumed from step {start} ({found[1]})", flush=True)
    for step in range(start + 1, STEPS + 1):
        x = torch.randn(64, 1024, device="cuda")
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % EVERY == 0 and rank == 0:
            buf = io.BytesIO()
            torch.save({"model": model.module.state_dict(), "optimizer": opt.state_dict()}, buf)
            print(f"step {step}: checkpoint {checkpoints.save(URI, step, buf.getvalue())}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
