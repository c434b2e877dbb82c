"""Run by tests/model/test_distributed.py under torchrun (not a test module itself): trains the
test's problem with data-parallel processes and writes rank 0's predictions."""

import sys

import numpy as np

from lpm_kg.model.distributed import init_from_env


def problem():
    from lpm_kg.model import LPMConfig, Vocabulary

    vocab = Vocabulary(["Control", "CRISPRi_A", "CRISPRi_B", "CRISPRi_A+CRISPRi_B", "CRISPRi_C"],
                       [f"R{i}" for i in range(25)], ["C1", "C2"])
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(5), np.arange(25), np.arange(2), indexing="ij"))
    y = (np.sin(p * 1.3 + r * 0.7) * (1 + c * 0.5)).astype(np.float32)
    # 250 tuples in batches of 37: the last batch is short and splits unevenly over two processes.
    cfg = LPMConfig(embedding_dim=8, hidden=[32, 32], dropout=0.0, batch_size=37, learning_rate=0.01, max_epochs=8,
                    patience=None, seeds=[13, 14], device="cpu")
    val = p == 4
    train = tuple(a[~val] for a in (p, r, c, y))
    valid = tuple(a[val] for a in (p, r, c, y))
    return cfg, vocab, train, valid, (p, r, c)


def fit_and_predict():
    from lpm_kg.model import LPM

    cfg, vocab, train, valid, ids = problem()
    model = LPM(cfg, vocab).fit(train, valid, show_progress=False)
    mean, _ = model.predict_ids(*ids)
    history = [[h["train_mse"], h["val_mse"]] for s in cfg.seeds for h in model.states[s].history]
    return mean, np.asarray(history)


if __name__ == "__main__":
    w = init_from_env()
    mean, history = fit_and_predict()
    if w.is_main:
        np.savez(sys.argv[1], mean=mean, history=history, world=w.size)
