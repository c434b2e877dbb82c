"""The LPM's head computed without the work that does not have to be done (issue 8).

The paper's first MLP layer sees ``cat(context, perturbation, readout)`` per tuple. Its weight
splits into three column blocks, so ``W @ cat(zc, zp, zr) = Wc @ zc + Wp @ zp + Wr @ zr``: a
block whose table is no larger than the batch is applied once per table row and the products are
gathered per tuple (:func:`first_layer_by_symbol` says when). That is the same function (float
rounding aside) for fewer FLOPs: a batch of 1,000 l1000 tuples draws on a few dozen contexts and
978 readouts.

Dropout masks on the CPU come from 16-bit uniform draws, four per 64-bit generator call, instead
of one ``bernoulli_`` draw per element: the masks are still i.i.d. with the configured rate
(rounded to 1/65536), at a quarter of the generator's work, which dominated small CPU steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

Embed = Callable[[torch.Tensor], torch.Tensor]


def first_layer_by_symbol(linear: nn.Linear, parts: Sequence[tuple[torch.Tensor, Embed, int]],
                          keep: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
    """``linear(cat([embed(ids) for ids, embed, _ in parts], 1))``, each part projected where
    that is cheaper.

    ``parts``: (ids of the batch, their embedding function, the table size). A part whose table is
    no larger than the batch (on a GPU: any table) is projected once per table row and gathered
    per tuple. A larger table is projected per tuple, as in the paper's loop, since gathering a
    ``[batch, hidden]`` product costs about as much as computing it when few rows repeat (measured
    in benchmarks/bench_train.py: the Replogle readouts, 7,163 rows for batches of 5,000). No part
    sorts its ids (``torch.unique`` waits for the GPU, and its sort and scatter cost more than
    they save here). ``keep[k]``, a [batch] 0/1 tensor, zeroes part k's embedding for the tuples
    it marks 0, as if their symbol embedded as zero."""
    out, offset = linear.bias, 0
    per_tuple, columns = [], []
    for k, (ids, embed, table_size) in enumerate(parts):
        mask = keep[k] if keep is not None else None
        whole = ids.is_cuda or table_size <= len(ids)
        z = embed(torch.arange(table_size, device=ids.device) if whole else ids)
        cols = slice(offset, offset + z.shape[1])
        offset += z.shape[1]
        if whole:
            projected = (z @ linear.weight[:, cols].T).index_select(0, ids.long())
            out = out + (projected if mask is None else projected * mask[:, None])
        else:
            z = z if mask is None else z * mask[:, None]
            per_tuple.append(z)
            columns.append(linear.weight[:, cols])
    if per_tuple:  # one product for every per-tuple part
        out = out + torch.cat(per_tuple, 1) @ torch.cat(columns, 1).T
    return out


def cheap_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout with rate ``p`` (rounded to 1/65536) from 16-bit uniform draws."""
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-2 ** 63, 2 ** 63 - 1)
    lanes = words.view(torch.int16)[:n].view_as(x)
    threshold = -32768 + round(p * 65536)
    keep = lanes >= threshold
    scale = 65536 / (65536 - round(p * 65536))
    return x * keep * scale


def run_head(mlp: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """The MLP after its first Linear, with CPU dropout from :func:`cheap_dropout`."""
    for layer in list(mlp)[1:]:
        if isinstance(layer, nn.Dropout):
            if layer.training and layer.p > 0:
                h = cheap_dropout(h, layer.p) if h.device.type == "cpu" else nn.functional.dropout(h, layer.p, True)
        else:
            h = layer(h)
    return h.squeeze(1)
