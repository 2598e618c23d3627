"""Data-parallel training over several processes (one per GPU, or CPU processes with gloo).

Launch either way:
    texgan train DATA --out RUN --nproc 2                         # spawns 2 local processes
    torchrun --nproc_per_node=2 -m texgan.cli train DATA --out RUN  # torchrun sets RANK/WORLD_SIZE
    # several machines: the same command on every node, with a rendezvous point
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
             --rdzv_id=texgan1 -m texgan.cli train DATA --out RUN

How the processes cooperate (the StyleGAN3 training-loop scheme):
  * every rank builds the same models from the same seed; parameters and buffers are then
    broadcast from rank 0, so all replicas start identical;
  * after every backward pass each rank all-reduces (averages) the gradients of the module it
    is training, so every optimiser step is the same on every rank and replicas stay identical;
  * each rank draws its own data crops, latents and augmentations (seeds offset by rank);
    `batch` is the global batch, split evenly over the ranks;
  * rank 0 alone writes config, log, samples and checkpoints; the checkpoint holds plain
    (unwrapped) module states, so any number of processes can `--resume` it.
This is what torch's DistributedDataParallel wrapper does for one forward and one backward
per step; the explicit reduce is used because a GAN step is not that shape (D is called on
reals, fakes and interpolates before one backward, and R1 differentiates twice), which the
wrapper rejects ("Expected to have finished reduction in the prior iteration").
"""
from __future__ import annotations

import faulthandler
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def env_info() -> DistInfo:
    """Rank and world size as torchrun (or our spawner) set them; 1 process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def setup(info: DistInfo, backend: str, device: torch.device) -> torch.device:
    """Join the process group (if world > 1); returns this rank's device."""
    if not info.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        store_port = os.environ.get(SPAWNER_STORE_PORT)
        if store_port:   # our spawner hosts the store (see spawn); every rank is a client
            store = dist.TCPStore(os.environ["MASTER_ADDR"], int(store_port), info.world, is_master=False)
            dist.init_process_group(backend, store=store, rank=info.rank, world_size=info.world)
        else:            # torchrun, or a user's own launcher: env:// rendezvous
            dist.init_process_group(backend, rank=info.rank, world_size=info.world)
    return device


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Make every rank's copy equal to rank 0's (parameters and buffers)."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(module: torch.nn.Module, info: DistInfo) -> None:
    """All-reduce the gradients of `module` in one flat buffer and divide by the world size.
    Only parameters that received a gradient take part (as in one process, where the
    optimiser skips the others); every rank runs the same graph, so the sets agree."""
    if not info.enabled:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= info.world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def check_replicas(module: torch.nn.Module, info: DistInfo) -> None:
    """Raise if the ranks' copies of `module` differ (they must stay bit-identical)."""
    if not info.enabled:
        return
    total = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().cpu().view(1)
    lo, hi = total.clone(), total.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if lo.item() != hi.item():
        raise RuntimeError(f"distributed replicas diverged (parameter sums {lo.item()} .. {hi.item()})")


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(values)
    return values


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


SPAWNER_STORE_PORT = "TEXGAN_STORE_PORT"


def _worker(rank: int, train, cfg, nproc: int, port: int, show_progress: bool) -> None:
    faulthandler.enable()   # a crash in C++ (gloo, the store) then prints each thread's Python stack
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), **{SPAWNER_STORE_PORT: str(port)})
    train(cfg, show_progress=show_progress and rank == 0)


def spawn(train, cfg, show_progress: bool) -> None:
    """Run train(cfg) in cfg.nproc local processes (one node) and wait for them. The caller passes
    its train function (a module-level one, so it pickles by name): this module never imports train.py.

    This process hosts the rendezvous store, as torchrun's agent does, so that it outlives every rank.
    When rank 0 hosted it, rank 0 once died in C++ as a run ended ("terminate called without an active
    exception", in CI); the likely cause is the store's thread being torn down while rank 1 still used it.
    Binding port 0 here also removes the race of picking a free port and binding it later in a child."""
    import torch.multiprocessing as mp
    store = dist.TCPStore("127.0.0.1", 0, cfg.nproc, is_master=True, wait_for_workers=False)
    try:
        mp.spawn(_worker, args=(train, cfg, cfg.nproc, store.port, show_progress), nprocs=cfg.nproc, join=True)
    except mp.ProcessRaisedException as e:
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        raise RuntimeError(f"a training process failed: {lines[-1] if lines else e}") from None
    except mp.ProcessExitedException as e:   # killed or crashed below Python: its stack went to stderr
        raise RuntimeError(f"a training process died: {e}") from None
    finally:
        del store
