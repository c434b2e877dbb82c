"""Data-parallel training (lpm_kg.model.distributed): two gloo processes under torchrun train
the same model as one process taking the same global batches."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent


@pytest.mark.parametrize("kind", ["paper", "graph-gcn"])
def test_two_processes_train_the_model_one_process_trains(tmp_path, kind):
    out = tmp_path / "ddp.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parents[1])}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(HERE / "ddp_worker.py"), str(out), kind], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ddp = np.load(out)
    assert int(ddp["world"]) == 2

    sys.path.insert(0, str(HERE))
    try:
        from ddp_worker import fit_and_predict
    finally:
        sys.path.remove(str(HERE))
    mean, history = fit_and_predict(kind)
    assert history.shape == ddp["history"].shape  # same epochs, no early stop anywhere
    assert np.allclose(ddp["history"], history, rtol=1e-4, atol=1e-6)  # per-epoch train and val loss
    assert np.allclose(ddp["mean"], mean, atol=1e-4)
    # It trained to something, not a constant (the graph LPM moves less in these 8 epochs).
    assert np.std(mean) > {"paper": 0.1, "graph-gcn": 0.05}[kind]
