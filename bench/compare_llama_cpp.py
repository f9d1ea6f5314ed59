#!/usr/bin/env python3
"""Times libinfer and llama.cpp on the same GGUF file, thread count and lengths, in one run.

llama.cpp comes from the PyPI package llama-cpp-python, built from source with the machine's
native CPU flags (GGML_NATIVE) by scripts/llama_cpp_venv.sh into a cached virtual environment.
Both engines get the same prompt length and the same number of generated tokens (so both decode
at the same context depth, the prompt's); each is timed over several
repetitions and the best run is kept. llama.cpp is timed by wall clock around its eval() calls
(this build's llama_perf_context counters read zero); each call's Python overhead (tens of
microseconds, a logits-row copy) is charged to it, under 1% of a decode step here.

    bench/compare_llama_cpp.py --model M.gguf --threads 1,2 [--prompt-tokens 128 --gen-tokens 128]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_llama_cpp() -> Path:
    """The interpreter of scripts/llama_cpp_venv.sh (built there once, then cached)."""
    out = subprocess.run([str(ROOT / "scripts" / "llama_cpp_venv.sh")], check=True,
                         capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


LLAMA_TIMER = r"""
import json, random, sys, time
import llama_cpp
sys.path.insert(0, sys.argv[6])
import llama_cpp_ref
model, threads, n_prompt, n_gen, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = llama_cpp_ref.load(model, n_ctx=n_prompt + n_gen + 8, n_batch=512, n_ubatch=512,
                         n_threads=threads, n_threads_batch=threads, verbose=False)
rng = random.Random(1234)
n_vocab = llm.n_vocab()
prompt = [rng.randrange(100, n_vocab) for _ in range(n_prompt)]
best_p = best_d = 0.0
for rep in range(reps + 1):
    llm.reset()
    llama_cpp.llama_kv_self_clear(llm.ctx) if hasattr(llama_cpp, "llama_kv_self_clear") else None
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    tok = prompt[-1]
    for _ in range(n_gen):
        llm.eval([tok])
        tok = rng.randrange(100, n_vocab)
    t2 = time.perf_counter()
    if rep == 0:
        continue
    best_p = max(best_p, n_prompt / (t1 - t0))
    best_d = max(best_d, n_gen / (t2 - t1))
print(json.dumps({"prefill_tokens_per_second": best_p, "decode_tokens_per_second": best_d,
                  "extra_buffer_types": llama_cpp_ref.extra_buffer_types()}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--cli", default=str(ROOT / "build" / "cli" / "infer-cli"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    python = ensure_llama_cpp()
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        ours = json.loads(subprocess.run(
            [args.cli, "bench", "--model", args.model, "--threads", str(threads),
             "--prompt-tokens", str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens),
             "--repetitions", str(args.repetitions), "--json"],
            check=True, capture_output=True, text=True).stdout)
        theirs = json.loads(subprocess.run(
            [python, "-c", LLAMA_TIMER, args.model, str(threads), str(args.prompt_tokens),
             str(args.gen_tokens), str(args.repetitions), str(ROOT / "tests" / "python")],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        rows.append({
            "threads": threads,
            "libinfer_prefill": ours["prefill_tokens_per_second"],
            "llama_cpp_prefill": theirs["prefill_tokens_per_second"],
            "libinfer_decode": ours["decode_tokens_per_second"],
            "llama_cpp_decode": theirs["decode_tokens_per_second"],
            "memory_bandwidth_gbs": ours["memory_bandwidth_bytes_per_second"] / 1e9,
            "decode_roofline_fraction": ours["decode_roofline_fraction"],
            "llama_cpp_extra_buffer_types": theirs["extra_buffer_types"],
            "cpu_model": ours["cpu_model"],
            "libinfer_kernels": ours["cpu_kernels"],
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model {Path(args.model).name}, prompt {args.prompt_tokens} tokens, "
          f"generate {args.gen_tokens} tokens, best of {args.repetitions}")
    print(f"cpu {rows[0]['cpu_model']}; libinfer {rows[0]['libinfer_kernels']} kernels; llama.cpp extra buffer "
          f"types (AMX, repacked weights) "
          f"{'on' if rows[0]['llama_cpp_extra_buffer_types'] else 'off (see tests/python/llama_cpp_ref.py)'}")
    print("| threads | prefill libinfer | prefill llama.cpp | ratio | decode libinfer | "
          "decode llama.cpp | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['libinfer_prefill']:.1f} | {r['llama_cpp_prefill']:.1f} | "
              f"{r['libinfer_prefill'] / r['llama_cpp_prefill']:.2f}x | {r['libinfer_decode']:.1f} | "
              f"{r['llama_cpp_decode']:.1f} | {r['libinfer_decode'] / r['llama_cpp_decode']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
