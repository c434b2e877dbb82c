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


def graph_priors():
    """A small gene graph for the graph LPM with the gcn encoder (its adjacency is sparse, and DDP
    must not try to broadcast it)."""
    from lpm_kg.priors import Knowledge, PriorSpec, fit_gene_priors
    from lpm_kg.priors.inputs import PriorSource

    genes = ["A", "B", "C", "D", "E"]
    kn = Knowledge.from_tables(genes, interacts=[("A", "B"), ("B", "C"), ("C", "D"), ("D", "E"), ("A", "E")])
    spec = PriorSpec(dim=4, encoder="gcn")
    return spec, PriorSource(kn, fit_gene_priors(kn, spec))


def fit_and_predict(kind: str = "paper"):
    from lpm_kg.model import LPM

    cfg, vocab, train, valid, ids = problem()
    source = None
    if kind == "graph-gcn":  # no random dropout of any kind: each process would draw its own masks
        spec, source = graph_priors()
        cfg = cfg.model_copy(update={"priors": spec, "free_dropout": 0.0})
    model = LPM(cfg, vocab, priors=source).fit(train, valid, show_progress=False)
    mean, _ = model.predict_ids(*ids)
    history = [[h["train_mse"], h["val_mse"]] for s in cfg.seeds for h in model.states[s].history]
    return mean, np.asarray(history)


if __name__ == "__main__":
    w = init_from_env()
    mean, history = fit_and_predict(sys.argv[2] if len(sys.argv) > 2 else "paper")
    if w.is_main:
        np.savez(sys.argv[1], mean=mean, history=history, world=w.size)
