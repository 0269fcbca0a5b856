"""GPU decoding speed: ours against ``transformers``' ``generate`` in the same run, and the memory-bandwidth floor.

Two random-weight models saved by ``transformers`` in bfloat16 on one CUDA GPU:
- ``gpt2-124M``: GPT-2 small's shape (12 layers, 768 wide, 50257 tokens);
- ``smollm2-135M``: SmolLM2-135M's shape (Llama: 30 layers, 576 wide, 9 heads, 3 kv heads, 1536 SwiGLU, 49152
  tokens, tied).
A 128-token prompt, 128 new tokens (no end-of-text: every run decodes all of them), greedy and beam-4.

Rows per model and strategy (medians over ``--repeats``; each run starts cold, the prompt is read every time):
- ``ours, graphed step``: prefill, then ``engine.decoding.cuda_graphs.GraphedDecodeStep`` replaying a CUDA graph per token,
  the chosen token copied to the host every step as streaming needs;
- ``ours, eager step``: the same loop with ``mode="eager"`` (one Python forward per token);
- ``ours, engine generator``: ``LanguageModel.complete`` end to end (penalties, stop rules, text), using whatever
  decode step the generator uses;
- ``transformers generate``: ``model.generate`` with its default (dynamic) cache.
first-token latency = prompt read + first token on the host; tokens/s = new tokens / whole run.
The floor: bytes of the weights read once per token / device bandwidth measured with a 1 GiB device-to-device copy.

    python benchmarks/gpu_decode.py [--repeats 5] [--prompt 128] [--new 128]
    python benchmarks/gpu_decode.py --cpu-smoke     # plumbing check on tiny models: no meaningful figures

Goals (issue 6): greedy at least 3x transformers' tokens/s, and within 3x of the bandwidth floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_tokenizer

BEAMS = 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--models", default="gpt2-124M,smollm2-135M")
    parser.add_argument("--cpu-smoke", action="store_true", help="run tiny models on the CPU to test the script")
    args = parser.parse_args()
    if args.cpu_smoke:
        device = torch.device("cpu")
        args.repeats, args.prompt, args.new = 1, 8, 6
    elif not torch.cuda.is_available():
        print("gpu_decode.py measures CUDA decoding and needs a CUDA GPU; none is available "
              f"(torch {torch.__version__}, torch.cuda.is_available() is False).", file=sys.stderr)
        return 2
    else:
        device = torch.device("cuda")
    bandwidth = measure_bandwidth(device, 1 << 30 if device.type == "cuda" else 1 << 24)
    print(f"{describe(device)} | torch {torch.__version__} | "
          f"copy bandwidth {bandwidth / 1e9:.0f} GB/s | prompt {args.prompt}, new {args.new}, "
          f"{args.repeats} repeats")
    tokenizer = make_tokenizer(4096)
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            folder = save_random_model(name, Path(tmp) / name, tokenizer, tiny=args.cpu_smoke)
            benchmark_model(name, folder, tokenizer, device, bandwidth, args)
    return 0


def save_random_model(name: str, folder: Path, tokenizer, tiny: bool = False) -> Path:
    import transformers

    torch.manual_seed(0)
    if name == "gpt2-124M":
        size = {"n_embd": 32, "n_layer": 2, "n_head": 4} if tiny else {"n_embd": 768, "n_layer": 12, "n_head": 12}
        config = transformers.GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=None, eos_token_id=None,
                                         **size)
        model = transformers.GPT2LMHeadModel(config)
    elif name == "smollm2-135M":
        size = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
                    "num_key_value_heads": 3}
        if tiny:
            size = {"hidden_size": 36, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 3,
                        "num_key_value_heads": 1}
        config = transformers.LlamaConfig(
            vocab_size=49152, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
            tie_word_embeddings=True, bos_token_id=None, eos_token_id=None, **size,
        )
        model = transformers.LlamaForCausalLM(config)
    else:
        raise SystemExit(f"unknown model {name!r}: use gpt2-124M or smollm2-135M")
    model.save_pretrained(folder)
    tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder


def describe(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke test: figures meaningless)"


def measure_bandwidth(device: torch.device, size_bytes: int) -> float:
    """Bytes per second moved by a large device-to-device copy (each byte read once and written once)."""
    source = torch.empty(size_bytes, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    times = [timed(lambda: target.copy_(source)) for _ in range(12)]
    return 2 * size_bytes / statistics.median(times[2:])


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of distinct parameters: what one decode step must read at least once (tied matrices count once)."""
    seen, total = set(), 0
    for param in model.parameters():
        if param.data_ptr() not in seen:
            seen.add(param.data_ptr())
            total += param.numel() * param.element_size()
    return total


def timed(run: Callable[[], object]) -> float:
    """Wall time of ``run`` with the GPU drained before and after (CUDA runs asynchronously)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    started = time.perf_counter()
    run()
    sync()
    return time.perf_counter() - started


def benchmark_model(name, folder, tokenizer, device, bandwidth, args) -> None:
    import transformers

    import engine
    from engine.decoding.cuda_graphs import GraphedDecodeStep

    lm = engine.load(str(folder), device=str(device))
    theirs = transformers.AutoModelForCausalLM.from_pretrained(folder).to(device=device, dtype=lm.dtype).eval()
    model = lm.model
    prompt = torch.randint(0, tokenizer.vocab_size, (1, args.prompt), generator=torch.Generator().manual_seed(1))
    prompt = prompt.to(device)
    prompt_text = tokenizer.decode(prompt[0].tolist())
    capacity = args.prompt + args.new + 1

    # Caches and steps are made once and reused by every run, as the generator keeps them between requests.
    single = model.new_cache(1, capacity)
    beams = model.new_cache(BEAMS, capacity)
    graphed = {1: GraphedDecodeStep(model, single), BEAMS: GraphedDecodeStep(model, beams)}
    eager = {1: GraphedDecodeStep(model, single, mode="eager"), BEAMS: GraphedDecodeStep(model, beams, mode="eager")}

    def first_token(steps) -> int:
        with torch.inference_mode():
            steps[1].cache.crop(0)
            logits, _ = model(prompt, steps[1].cache)
            return int(logits[0, -1].argmax())

    def greedy(steps, new=args.new) -> list[int]:
        out = [first_token(steps)]
        step = steps[1]
        for _ in range(new - 1):
            out.append(int(step(torch.tensor([out[-1]], device=device)).argmax()))
        return out

    def beam(steps, new=args.new) -> list[int]:
        with torch.inference_mode():
            prompt_cache = steps[1].cache
            prompt_cache.crop(0)
            logits, _ = model(prompt, prompt_cache)
            step = steps[BEAMS]
            step.load_prefix(prompt_cache)
            scores, tokens = torch.log_softmax(logits[0, -1].float(), -1).topk(BEAMS)
            history = [tokens.tolist()]
            for _ in range(new - 1):
                logprobs = torch.log_softmax(step(tokens).float(), -1) + scores[:, None]
                scores, flat = logprobs.view(-1).topk(BEAMS)
                parents, tokens = flat // logprobs.shape[1], flat % logprobs.shape[1]
                step.cache.reorder(parents)
                history.append(tokens.tolist())  # the host needs the beams every step, as the generator does
            return history

    # Plain decoding (no repetition guards, no stop rule): what transformers' generate does.
    greedy_settings = engine.DecodingSettings(strategy="greedy", max_new_tokens=args.new, token_healing=False,
                                              greedy_word_ends=False, no_repeat_ngram_size=0, dry_multiplier=0.0,
                                              stop=None, min_word_probability=0.0, whole_words=False)
    beam_settings = greedy_settings.replace(strategy="beam", num_beams=BEAMS, num_alternatives=BEAMS)

    def generator_run(settings):
        lm.generator.forget()
        return lm.generator.complete(prompt_text, settings)

    def theirs_run(beams_n: int, new=args.new):
        with torch.inference_mode():
            return theirs.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                   num_beams=beams_n, num_return_sequences=beams_n, max_new_tokens=new,
                                   min_new_tokens=new, pad_token_id=0)

    # Warm everything up (cuBLAS handles, graph capture of every span) and time the captures.
    capture_s = timed(lambda: (greedy(graphed), beam(graphed)))
    for run in (lambda: greedy(eager), lambda: beam(eager), lambda: theirs_run(1, 4), lambda: theirs_run(BEAMS, 4),
                lambda: generator_run(greedy_settings.replace(max_new_tokens=4))):
        run()
    status = "graphed" if graphed[1].graphed else f"NOT graphed ({graphed[1].fallback_reason or 'not CUDA'})"
    checked = min(32, args.new)
    mine, reference = greedy(graphed, checked), theirs_run(1, checked)[0, args.prompt:].tolist()
    agree = next((i for i, (a, b) in enumerate(zip(mine, reference)) if a != b), len(mine))

    runs = {
        ("greedy", "ours, graphed step"): lambda: greedy(graphed),
        ("greedy", "ours, eager step"): lambda: greedy(eager),
        ("greedy", "ours, engine generator"): lambda: generator_run(greedy_settings),
        ("greedy", "transformers generate"): lambda: theirs_run(1),
        ("beam-4", "ours, graphed step"): lambda: beam(graphed),
        ("beam-4", "ours, eager step"): lambda: beam(eager),
        ("beam-4", "ours, engine generator"): lambda: generator_run(beam_settings),
        ("beam-4", "transformers generate"): lambda: theirs_run(BEAMS),
    }
    firsts = {"ours": lambda: first_token(graphed), "transformers": lambda: theirs_run(1, 1)}
    totals: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    first_s: dict[str, list[float]] = {key: [] for key in firsts}
    for _ in range(args.repeats):  # interleaved, so drifting clocks affect every row alike
        for key, run in runs.items():
            totals[key].append(timed(run))
        for key, run in firsts.items():
            first_s[key].append(timed(run))

    floor_s = weight_bytes(model) / bandwidth
    print(f"\n== {name}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters in {lm.dtype}, "
          f"{weight_bytes(model) / 1e6:.0f} MB of weights, decode step {status}, {graphed[1].captures} + "
          f"{graphed[BEAMS].captures} graphs recorded in {capture_s:.2f} s (warm-up included)")
    print(f"greedy tokens identical to transformers for the first {agree} of {checked} "
          "(bfloat16 rounding on random weights may part them)")
    print(f"first-token latency: ours {statistics.median(first_s['ours']) * 1e3:.1f} ms, "
          f"transformers {statistics.median(first_s['transformers']) * 1e3:.1f} ms")
    print(f"bandwidth floor: {floor_s * 1e3:.3f} ms/token = {1 / floor_s:,.0f} tokens/s")
    rates = {key: args.new / statistics.median(values) for key, values in totals.items()}
    for (strategy, who), rate in rates.items():
        beam_note = f" ({rate * BEAMS:,.0f} beam-tokens/s)" if strategy == "beam-4" else ""
        print(f"  {strategy:7s} {who:24s} {rate:9,.0f} tokens/s{beam_note}")
    for strategy in ("greedy", "beam-4"):
        ratio = rates[(strategy, "ours, graphed step")] / rates[(strategy, "transformers generate")]
        print(f"{strategy}: ours (graphed step) is {ratio:.2f}x transformers" + (" (goal >= 3x)" if strategy ==
                                                                                  "greedy" else ""))
    per_token = 1 / rates[("greedy", "ours, graphed step")]
    print(f"greedy: ours (graphed step) is {per_token / floor_s:.2f}x the bandwidth floor (goal <= 3x)")


if __name__ == "__main__":
    sys.exit(main())
