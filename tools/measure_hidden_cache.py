"""How much a continuous cache (Grave et al. 2017) would add to the document memory: an experiment, not a feature.

The cache remembers, for every earlier position of the document, the model's final hidden state and the token
that followed; it predicts ``p_cache(w) ~ sum of exp(theta * (cos(h_t, h_i) - 1))`` over the earlier positions
followed by ``w``. Mixed after the n-gram memory as ``(1 - lam) * p + lam * p_cache``, with ``lam`` fitted per
bucket of the best similarity (a fact of the context, never of the token scored), on the same held-out passages
``tools/fit_memory_weights.py`` fits on (characters 300,000-330,000 of the held-out books, and long held-out
articles), scored on the first characters of the books.

    python tools/measure_hidden_cache.py --model default --fit BOOK... ARTICLE... --eval BOOK...

Transformer (Qwen3/Llama layout) models only: the hidden state is read from the final norm (``model.norm``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine
from engine.memory.ngram import NgramCounts
from engine.memory.weights import _best_weight
from engine.training.corpus import read_documents
from tools.fit_memory_weights import passage  # the same cut of the same passages the weights were fitted on

THETAS = (5.0, 10.0, 20.0, 40.0)
SIMILARITY_EDGES = np.array([-2.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])


@torch.no_grad()
def hidden_states(lm, ids: list[int]) -> torch.Tensor:
    """Row i: the final hidden state that predicts ``ids[i + 1]``, windowed as ``token_logprobs`` windows."""
    model, got = lm.model, {}
    hook = model.model.norm.register_forward_hook(lambda module, inputs, output: got.__setitem__("h", output))
    tokens, window = torch.tensor(ids), lm.max_context
    states = torch.zeros(len(ids) - 1, model.config.hidden_size)
    scored, start = 1, 0
    try:
        while scored < len(ids):
            end = min(start + window, len(ids))
            model(tokens[start:end].unsqueeze(0))
            first = scored - (start + 1)
            states[scored - 1 : end - 1] = got["h"][0, first : end - start - 1].float()
            scored = end
            start = min(start + window // 2, max(0, len(ids) - window)) if end < len(ids) else end
    finally:
        hook.remove()
    return states


def cache_rows(lm, text: str) -> dict:
    """Per predicted token: the mixture of the model and the shipped n-gram memory, the cache's probability of
    the token for each theta, and the best similarity to an earlier position."""
    ids = ([lm.eos_token_id] if lm.eos_token_id is not None else []) + lm.tokenizer.encode(text)
    model_p = np.exp(np.asarray(lm.token_logprobs(ids, memory=False)))
    mixed = model_p.copy()
    counts = NgramCounts(lm.memory.max_order)  # the document memory as bits_per_byte builds it: what came before
    counts.append(ids[:1])
    for position in range(1, len(ids)):
        match = counts.longest(ids[max(0, position - lm.memory.max_order) : position])
        w = lm.memory.weights.weight(match)
        if match is not None and w > 0:
            target = ids[position]
            q = match.counts[match.ids.index(target)] / match.count if target in match.ids else 0.0
            mixed[position - 1] = (1 - w) * model_p[position - 1] + w * q
        counts.append([ids[position]])
    states = F.normalize(hidden_states(lm, ids), dim=-1)
    similarity = states @ states.T
    following = torch.tensor(ids[1:])
    same = following.unsqueeze(0) == following.unsqueeze(1)  # [t, i]: position i was followed by t's token
    earlier = torch.ones_like(similarity).tril(-1).bool()
    best = torch.where(earlier, similarity, torch.tensor(-2.0)).max(1).values.numpy()
    rows = {"alone": model_p, "mixed": mixed, "best": best, "bytes": len(text.encode("utf-8"))}
    for theta in THETAS:
        kernel = torch.where(earlier, torch.exp(theta * (similarity - 1)), torch.tensor(0.0))
        total = kernel.sum(1)
        rows[theta] = torch.where(total > 0, (kernel * same).sum(1) / total.clamp_min(1e-30),
                                  torch.tensor(0.0)).numpy()
    return rows


def bits_per_byte(rows: list[dict], key: str | float, lam: dict[int, float] | None = None) -> float:
    """Bits per byte of ``rows[key]``; with ``lam``, of the n-gram mixture mixed with the cache's ``key``."""
    bits, total_bytes = 0.0, 0
    for r in rows:
        p = r[key]
        if lam is not None:
            p = r["mixed"]
            buckets = np.searchsorted(SIMILARITY_EDGES, r["best"], "right") - 1
            weight = np.array([lam.get(int(b), 0.0) for b in buckets])
            p = (1 - weight) * p + weight * r[key]
        bits -= float(np.log2(np.maximum(p, 1e-300)).sum())
        total_bytes += r["bytes"]
    return bits / total_bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--fit", nargs="+", required=True, help="held-out files the cache weights are fitted on")
    parser.add_argument("--eval", nargs="+", required=True, help="held-out files it is scored on")
    parser.add_argument("--fit-start", type=int, default=300000)
    parser.add_argument("--chars", type=int, default=30000)
    args = parser.parse_args()
    lm = engine.load(args.model, device="cpu")
    fit = [cache_rows(lm, passage(d.text, args.fit_start, args.chars)) for d in read_documents(args.fit)]
    scored = [cache_rows(lm, passage(d.text, 0, args.chars)) for d in read_documents(args.eval)]
    print(f"model alone {bits_per_byte(scored, 'alone'):.4f} bits/byte; with the n-gram memory "
          f"{bits_per_byte(scored, 'mixed'):.4f}")
    for theta in THETAS:
        pairs: dict[int, list[tuple[float, float]]] = {}
        for r in fit:
            for b, p, q in zip(np.searchsorted(SIMILARITY_EDGES, r["best"], "right") - 1, r["mixed"], r[theta]):
                pairs.setdefault(int(b), []).append((float(p), float(q)))
        lam = {b: _best_weight(v) for b, v in pairs.items()}
        print(f"theta {theta:>4}: + continuous cache {bits_per_byte(scored, theta, lam):.4f}  "
              f"(weights by best similarity: {dict(sorted(lam.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
