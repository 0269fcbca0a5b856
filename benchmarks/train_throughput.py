"""Training throughput: ``inkling train``'s step against a plain eager float32 PyTorch loop of the same shape.

Both sides train the same model (random tokens, the same batch), one after the other in this run, on the same
threads. Ours is ``engine.training.train_step.TrainStep`` with the modern recipe's optimizer (Muon + AdamW), on
the path ``inkling train`` picks (compiled, bfloat16 autocast where the CPU has it); the peer is what a PyTorch
tutorial writes: eager float32 forward, cross-entropy, backward, clipping, AdamW. Prints tokens/s, achieved GFLOP/s
(6 x parameters x tokens/s) and the ratio, medians over the timed steps.

    python benchmarks/train_throughput.py                      # 4 x 256, vocab 8192, 16 x 256 tokens a step
    python benchmarks/train_throughput.py --size small --block 512 --batch 32   # the bundled default's run
    python benchmarks/train_throughput.py --quick              # plumbing check (CI-sized)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


def build_model(layers: int, width: int, vocab: int, context: int, seed: int = 0) -> nn.Module:
    from engine.loading.families import FAMILIES
    from engine.training import recipe
    from engine.training.model_sizes import QWEN3_SIZES

    config = dict(QWEN3_SIZES["tiny"], num_hidden_layers=layers, hidden_size=width,
                  intermediate_size=3 * width, num_attention_heads=max(1, width // 64),
                  num_key_value_heads=max(1, width // 64), head_dim=min(64, width),
                  max_position_embeddings=context, model_type="qwen3", vocab_size=vocab, eos_token_id=0,
                  bos_token_id=0)
    torch.manual_seed(seed)
    model = FAMILIES["qwen3"].build(config)
    recipe.initialise_modern(model)
    return model


def plain_eager_step(model: nn.Module, optimizer: torch.optim.Optimizer):
    def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        model.train()
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.detach()

    return step


def timed(step, batches: list[tuple[torch.Tensor, torch.Tensor]], warmup: int) -> list[float]:
    """Seconds per step after ``warmup`` untimed steps (which include compilation)."""
    for inputs, targets in batches[:warmup]:
        step(inputs, targets).item()
    times = []
    for inputs, targets in batches[warmup:]:
        started = time.perf_counter()
        step(inputs, targets).item()
        times.append(time.perf_counter() - started)
    return times


def run(layers: int, width: int, vocab: int, batch: int, block: int, steps: int, warmup: int,
        threads: int | None) -> dict:
    from engine.training import recipe
    from engine.training.train_step import TrainStep

    if threads:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(1)
    rows = [torch.randint(0, vocab, (batch, block + 1), generator=generator) for _ in range(warmup + steps)]
    batches = [(r[:, :-1], r[:, 1:]) for r in rows]
    tokens_per_step = batch * block
    results = {}
    peer = build_model(layers, width, vocab, block)
    params = sum(p.numel() for p in peer.parameters())
    peer_step = plain_eager_step(peer, torch.optim.AdamW(peer.parameters(), lr=1e-3, betas=(0.9, 0.95)))
    results["eager float32 (plain PyTorch)"] = timed(peer_step, batches, min(warmup, 2))
    ours = build_model(layers, width, vocab, block)
    optimizer = recipe.build_optimizer(ours, "modern", 1e-2, 0.0, 0.03)
    step = TrainStep(ours, optimizer, torch.device("cpu"), grad_clip=1.0, log=print)
    results[f"inkling train ({step.description})"] = timed(step, batches, warmup)
    return {"params": params, "tokens_per_step": tokens_per_step, "times": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--size", choices=("small",), help="the bundled default's shape (6 x 256)")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--threads", type=int, help="torch threads for both sides (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="a tiny shape, to check the plumbing")
    args = parser.parse_args()
    if args.size == "small":
        args.layers = 6
    if args.quick:
        args.layers, args.width, args.vocab, args.batch, args.block, args.steps, args.warmup = 1, 64, 512, 2, 32, 3, 1
    report = run(args.layers, args.width, args.vocab, args.batch, args.block, args.steps, args.warmup, args.threads)
    print(f"{args.layers} x {args.width}, vocab {args.vocab}, {args.batch} x {args.block} tokens a step, "
          f"{report['params'] / 1e6:.2f}M parameters, {torch.get_num_threads()} threads, medians of {args.steps} steps")
    base = None
    for name, times in report["times"].items():
        tokens_per_s = report["tokens_per_step"] / statistics.median(times)
        gflops = 6 * report["params"] * tokens_per_s / 1e9
        base = base or tokens_per_s
        print(f"  {name:<48} {tokens_per_s:>9,.0f} tokens/s  {gflops:>6.1f} GFLOP/s  x{tokens_per_s / base:.2f}")


if __name__ == "__main__":
    main()
