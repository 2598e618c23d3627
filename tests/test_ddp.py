"""Distributed training on CPU: 2 gloo processes write one checkpoint; 1 process resumes it."""
import csv

import pytest
import torch

from conftest import EXEMPLARS, tiny_config
from gan_core.checkpoint import module_state, read_checkpoint
from gan_core.train import train


def test_two_process_run_then_one_process_resume(tmp_path):
    run = tmp_path / "r"
    cfg = tiny_config(EXEMPLARS / "moss", run, steps=3, batch=4, nproc=2, checkpoint_every=100, sample_every=100)
    result = train(cfg, show_progress=False)   # ends by checking that both ranks hold identical G, D, EMA
    assert result.step == 3 and result.stopped_by == "steps"
    files = sorted(p.name for p in run.iterdir())
    assert files.count("checkpoint.safetensors") == 1 and not any(f.endswith(".tmp") for f in files)
    tensors, info = read_checkpoint(run)
    assert info["step"] == 3 and info["world_size"] == 2
    with (run / "log.csv").open() as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["1", "2", "3"]   # one writer: no duplicate rows
    before = module_state(tensors, "G")

    resumed = train(tiny_config(EXEMPLARS / "moss", run, steps=5, batch=4, resume=True, checkpoint_every=100,
                                sample_every=100), show_progress=False)
    assert resumed.step == 5
    tensors2, info2 = read_checkpoint(run)
    assert info2["step"] == 5 and info2["world_size"] == 1
    after = module_state(tensors2, "G")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.isfinite(v).all() for v in after.values())


def test_batch_must_split_over_processes(tmp_path):
    """--batch is the global batch; one that does not split over the processes is refused up front."""
    from gan_core.config import ConfigError
    with pytest.raises(ConfigError, match="divisible"):
        train(tiny_config(EXEMPLARS / "moss", tmp_path / "odd", steps=1, batch=3, nproc=2), show_progress=False)
    assert not (tmp_path / "odd").exists()
