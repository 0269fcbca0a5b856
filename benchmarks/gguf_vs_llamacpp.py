"""Inkling against llama.cpp on the same GGUF file: load, prefill, decode, resident memory, top-1 agreement.

Each side runs in a fresh process of its own (so resident memory and load time are its own), in turns, ``--repeats``
times; the table gives medians and ours / llama.cpp ratios (above 1 is better for us in tokens/s, worse in seconds
and bytes). Both use the same threads and the same passage (``--prompt-tokens`` of prose, tokenized by each
side's tokenizer of the same file). llama.cpp is timed with a tight ``eval`` + argmax loop (llama-cpp-python), not
its Python ``generate``; ours with the model's own one-token step over its preallocated cache, as decoding runs it,
and through ``LanguageModel.complete`` (plain greedy, the app's path).

    python benchmarks/gguf_vs_llamacpp.py [--model FILE.gguf] [--threads 2] [--repeats 3]
    python benchmarks/gguf_vs_llamacpp.py --quantize Q4_K_M    # also a Q4_K_M (or Q8_0) file made by llama.cpp
    python benchmarks/gguf_vs_llamacpp.py --synthetic 0.5b 1.5b --prompt-tokens 64   # bigger shapes, random Q4_0

``--synthetic`` writes random-weight Q4_0 files of the 0.5B (Qwen2.5-0.5B: 24 x 896, MLP 4864) and 1.5B (28 x 1536,
MLP 8960) body shapes with the shared file's vocabulary (49,152 tokens, tied), and prints each side's decoding
against the memory-bandwidth floor: a token reads every weight once, so file bytes / seconds per token is the
bandwidth a side achieves, next to a plain copy's.

llama-cpp-python is a benchmark reference only: ``pip install llama-cpp-python`` (it compiles llama.cpp).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import copy_bandwidth_gb_s, machine_note, sample_text

SHARED_MODEL = Path("/work/shared/models/SmolLM2-135M-Instruct.Q4_1.gguf")
DECODE_TOKENS = 64


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        import os

        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_ours(model: str, threads: int, prompt_tokens: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    import engine

    before = rss_bytes()
    started = time.perf_counter()
    lm = engine.load(model)
    load_s = time.perf_counter() - started
    resident = rss_bytes() - before
    ids = lm.tokenizer.encode(sample_text(20_000))[:prompt_tokens]
    tokens = torch.tensor([ids])
    from engine.models.output_rows import last_position_logits

    with torch.inference_mode():
        top1 = lm.model(tokens)[0][0].float().argmax(-1).tolist()  # every position, for the agreement (untimed)
        cache = lm.model.new_cache(1, prompt_tokens + DECODE_TOKENS + 8)
        lm.model(tokens[:, :8], cache)  # warm: allocator, kernels
        cache.crop(0)
        started = time.perf_counter()
        with last_position_logits(lm.model):  # as the app reads a prompt
            logits, cache = lm.model(tokens, cache)
        prefill_s = time.perf_counter() - started
        token = int(logits[0, -1].argmax())
        started = time.perf_counter()
        first_s = None
        for _ in range(DECODE_TOKENS):
            logits, cache = lm.model(torch.tensor([[token]]), cache)
            token = int(logits[0, -1].argmax())
            if first_s is None:
                first_s = time.perf_counter() - started
        decode_s = time.perf_counter() - started
    text = lm.tokenizer.decode(ids[:64])
    settings = engine.DecodingSettings.plain(max_new_tokens=32)
    lm.complete(text, settings)
    started = time.perf_counter()
    lm.complete(text, settings)
    app_s = time.perf_counter() - started
    return {"load_s": load_s, "resident": resident, "prefill_tps": prompt_tokens / prefill_s,
            "decode_tps": DECODE_TOKENS / decode_s, "first_token_s": prefill_s + (first_s or 0.0),
            "app_greedy_tps": 32 / app_s, "top1": top1, "weights": lm.weights}


def run_llama(model: str, threads: int, prompt_tokens: int) -> dict:
    import numpy as np
    from llama_cpp import Llama

    before = rss_bytes()
    started = time.perf_counter()
    llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_ctx=prompt_tokens + DECODE_TOKENS + 16,
                n_batch=prompt_tokens, verbose=False)
    load_s = time.perf_counter() - started
    resident = rss_bytes() - before
    ids = llm.tokenize(sample_text(20_000).encode("utf-8"), add_bos=False, special=False)[:prompt_tokens]
    llm.eval(ids[:8])  # warm
    llm.reset()
    started = time.perf_counter()
    llm.eval(ids)
    prefill_s = time.perf_counter() - started
    token = int(np.argmax(last_logits(llm)))
    started = time.perf_counter()
    first_s = None
    for _ in range(DECODE_TOKENS):
        llm.eval([token])
        token = int(np.argmax(last_logits(llm)))
        if first_s is None:
            first_s = time.perf_counter() - started
    decode_s = time.perf_counter() - started
    del llm
    every = Llama(model_path=model, n_threads=threads, n_ctx=prompt_tokens + 16, n_batch=prompt_tokens,
                  logits_all=True, verbose=False)  # every position's logits, for the agreement (untimed)
    every.eval(ids)
    top1 = np.asarray(every.scores[: len(ids)]).argmax(-1).tolist()
    return {"load_s": load_s, "resident": resident, "prefill_tps": prompt_tokens / prefill_s,
            "decode_tps": DECODE_TOKENS / decode_s, "first_token_s": prefill_s + (first_s or 0.0), "top1": top1}


def last_logits(llm):
    """The logits after the last token llama.cpp read (without ``logits_all`` it keeps no others)."""
    import llama_cpp
    import numpy as np

    pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),))


def quantized_copy(source: Path, kind: str, folder: Path) -> Path:
    """``source`` re-quantized by llama.cpp's own quantizer (from the file's values dequantized to F32 first)."""
    import llama_cpp

    target = folder / f"{source.stem}.{kind}.gguf"
    if target.is_file():
        return target
    f32 = folder / f"{source.stem}.F32.gguf"
    if not f32.is_file():
        _write_f32_copy(source, f32)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.nthread = 2
    if llama_cpp.llama_model_quantize(str(f32).encode(), str(target).encode(), params) != 0:
        raise SystemExit(f"llama.cpp could not quantize {f32} to {kind}")
    return target


def _write_f32_copy(source: Path, target: Path) -> None:
    import numpy as np
    from gguf import GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize

    reader = GGUFReader(source)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(str(target), arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        value_type = field.types[0]
        if value_type == GGUFValueType.ARRAY:
            writer.add_array(name, field.contents())
        else:
            writer.add_key_value(name, field.contents(), value_type)
    writer.add_file_type(0)
    for tensor in reader.tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape))
        writer.add_tensor(tensor.name, np.asarray(dequantize(tensor.data, tensor.tensor_type),
                                                  dtype=np.float32).reshape(shape))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


SHAPES = {"0.5b": {"layers": 24, "width": 896, "mlp": 4864, "heads": 14, "kv_heads": 2},
          "1.5b": {"layers": 28, "width": 1536, "mlp": 8960, "heads": 12, "kv_heads": 2}}


def synthetic_copy(source: Path, shape_name: str, folder: Path) -> Path:
    """A random-weight Q4_0 ``llama`` file of a bigger shape, with ``source``'s tokenizer (written once)."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import quantize

    target = folder / f"synthetic-{shape_name}.Q4_0.gguf"
    if target.is_file():
        return target
    shape = SHAPES[shape_name]
    reader = GGUFReader(source)
    writer = GGUFWriter(str(target.with_suffix(".part")), "llama")
    width, heads = shape["width"], shape["heads"]
    writer.add_block_count(shape["layers"])
    writer.add_context_length(4096)
    writer.add_embedding_length(width)
    writer.add_feed_forward_length(shape["mlp"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(shape["kv_heads"])
    writer.add_rope_dimension_count(width // heads)
    writer.add_rope_freq_base(1000000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(2)
    for name, field in reader.fields.items():
        if name.startswith("tokenizer."):
            value_type = field.types[0]
            if value_type == GGUFValueType.ARRAY:
                writer.add_array(name, field.contents())
            else:
                writer.add_key_value(name, field.contents(), value_type)
    vocab = int(next(t for t in reader.tensors if t.name == "token_embd.weight").shape[-1])
    rng = np.random.default_rng(0)
    head_dim, kv = width // heads, shape["kv_heads"] * (width // heads)

    def add(name: str, rows: int, cols: int) -> None:
        values = rng.standard_normal((rows, cols), dtype=np.float32) * 0.05
        writer.add_tensor(name, quantize(values, GGMLQuantizationType.Q4_0), raw_dtype=GGMLQuantizationType.Q4_0)

    add("token_embd.weight", vocab, width)
    writer.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    for layer in range(shape["layers"]):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        add(f"{block}.attn_q.weight", heads * head_dim, width)
        add(f"{block}.attn_k.weight", kv, width)
        add(f"{block}.attn_v.weight", kv, width)
        add(f"{block}.attn_output.weight", width, heads * head_dim)
        add(f"{block}.ffn_gate.weight", shape["mlp"], width)
        add(f"{block}.ffn_up.weight", shape["mlp"], width)
        add(f"{block}.ffn_down.weight", width, shape["mlp"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    target.with_suffix(".part").rename(target)
    return target


def measure(side: str, model: Path, threads: int, prompt_tokens: int) -> dict:
    command = [sys.executable, __file__, "--side", side, "--model", str(model), "--threads", str(threads),
               "--prompt-tokens", str(prompt_tokens)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(model: Path, threads: int, prompt_tokens: int, repeats: int) -> None:
    runs: dict[str, list[dict]] = {"ours": [], "llama.cpp": []}
    for _ in range(repeats):
        runs["ours"].append(measure("ours", model, threads, prompt_tokens))
        runs["llama.cpp"].append(measure("llama", model, threads, prompt_tokens))
    print(f"\n{model.name} ({model.stat().st_size / 1e6:.0f} MB), {threads} threads, {prompt_tokens}-token passage, "
          f"{DECODE_TOKENS} decoded tokens, medians of {repeats}; ours holds weights as {runs['ours'][0]['weights']}")
    print(f"{'':24}{'ours':>12}{'llama.cpp':>12}{'ratio':>10}")
    rows = (("decode tokens/s", "decode_tps", 1), ("prefill tokens/s", "prefill_tps", 1),
            ("first token s", "first_token_s", 1), ("load s", "load_s", 1), ("resident MB", "resident", 1e6))
    for label, key, scale in rows:
        ours = statistics.median(r[key] for r in runs["ours"]) / scale
        theirs = statistics.median(r[key] for r in runs["llama.cpp"]) / scale
        print(f"{label:24}{ours:>12.2f}{theirs:>12.2f}{ours / theirs:>9.2f}x")
    app = statistics.median(r["app_greedy_tps"] for r in runs["ours"])
    print(f"{'ours via complete() t/s':24}{app:>12.2f}")
    size = model.stat().st_size
    for side, side_runs in runs.items():
        per_token = 1 / statistics.median(r["decode_tps"] for r in side_runs)
        print(f"{side} reads the file's {size / 1e6:.0f} MB per token at {size / per_token / 1e9:.1f} GB/s")
    ours_top1, their_top1 = runs["ours"][0]["top1"], runs["llama.cpp"][0]["top1"]
    compared = min(len(ours_top1), len(their_top1))
    agree = sum(a == b for a, b in zip(ours_top1[:compared], their_top1[:compared])) / compared
    print(f"top-1 agreement over {compared} positions: {agree:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=SHARED_MODEL)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--quantize", nargs="*", default=[], help="also llama.cpp-made copies: Q4_K_M, Q8_0 ...")
    parser.add_argument("--synthetic", nargs="*", default=[], choices=sorted(SHAPES),
                        help="also random-weight Q4_0 files of bigger shapes")
    parser.add_argument("--only-extra", action="store_true", help="skip --model itself (measure the copies only)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/inkling-gguf-bench"))
    parser.add_argument("--side", choices=("ours", "llama"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run = run_ours if args.side == "ours" else run_llama
        print(json.dumps(run(str(args.model), args.threads, args.prompt_tokens)))
        return
    if not args.model.is_file():
        raise SystemExit(f"{args.model} is missing: pass --model FILE.gguf")
    models = [] if args.only_extra else [args.model]
    args.work.mkdir(parents=True, exist_ok=True)
    models += [quantized_copy(args.model, kind, args.work) for kind in args.quantize]
    models += [synthetic_copy(args.model, shape, args.work) for shape in args.synthetic]
    print(f"plain copy, this machine: {copy_bandwidth_gb_s(512):.1f} GB/s moved (read + write); {machine_note()}")
    for model in models:
        report(model, args.threads, args.prompt_tokens, args.repeats)


if __name__ == "__main__":
    main()
