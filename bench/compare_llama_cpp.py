#!/usr/bin/env python3
"""Times libinfer and llama.cpp on the same GGUF file, thread count and lengths, in one run.

llama.cpp comes from the PyPI package llama-cpp-python, built from source with the machine's
native CPU flags (GGML_NATIVE) by scripts/llama_cpp_venv.sh into a cached virtual environment.
Both engines get the same prompt length and the same number of generated tokens (so both decode
at the same context depth, the prompt's). Rounds alternate the engines (libinfer, llama.cpp,
libinfer, ...), each round a fresh process that warms up once and times one run; the table gives
the best and the median of the rounds, and the ratios of both. The CPU's name and its SIMD flags
are printed with it. llama.cpp is timed by wall clock around its eval() calls (this build's
llama_perf_context counters read zero); each call's Python overhead (tens of microseconds, a
logits-row copy) is charged to it, under 1% of a decode step here.

    bench/compare_llama_cpp.py --model M.gguf --threads 1,2 [--prompt-tokens 512 --gen-tokens 128]
"""
import argparse
import json
import statistics
import subprocess
import sys
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


# The /proc/cpuinfo flags that decide which kernels either engine can use.
SIMD_FLAGS = ("avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_flags() -> str:
    """SIMD_FLAGS that /proc/cpuinfo lists, space-separated ("unknown" where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return " ".join(f for f in SIMD_FLAGS if f in have) or "none of " + " ".join(SIMD_FLAGS)
    except OSError:
        pass
    return "unknown"


def run_libinfer(args, threads):
    return json.loads(subprocess.run(
        [args.cli, "bench", "--model", args.model, "--threads", str(threads),
         "--prompt-tokens", str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens),
         "--repetitions", "1", "--json"],
        check=True, capture_output=True, text=True).stdout)


def run_llama_cpp(args, python, threads):
    return json.loads(subprocess.run(
        [python, "-c", LLAMA_TIMER, args.model, str(threads), str(args.prompt_tokens),
         str(args.gen_tokens), "1", str(ROOT / "tests" / "python")],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--rounds", "--repetitions", type=int, default=3,
                    help="alternated rounds per engine (--repetitions: the older name)")
    ap.add_argument("--cli", default=str(ROOT / "build" / "cli" / "infer-cli"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    python = ensure_llama_cpp()
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run_libinfer(args, threads))
            theirs.append(run_llama_cpp(args, python, threads))

        def stats(runs, key):
            values = [r[key] for r in runs]
            return {"best": max(values), "median": statistics.median(values)}

        rows.append({
            "threads": threads,
            "rounds": args.rounds,
            "libinfer_prefill": stats(ours, "prefill_tokens_per_second"),
            "llama_cpp_prefill": stats(theirs, "prefill_tokens_per_second"),
            "libinfer_decode": stats(ours, "decode_tokens_per_second"),
            "llama_cpp_decode": stats(theirs, "decode_tokens_per_second"),
            "memory_bandwidth_gbs": ours[-1]["memory_bandwidth_bytes_per_second"] / 1e9,
            "decode_roofline_fraction": ours[-1]["decode_roofline_fraction"],
            "llama_cpp_extra_buffer_types": theirs[-1]["extra_buffer_types"],
            "cpu_model": ours[-1]["cpu_model"],
            "cpu_flags": cpu_flags(),
            "libinfer_kernels": ours[-1]["cpu_kernels"],
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model {Path(args.model).name}, prompt {args.prompt_tokens} tokens, "
          f"generate {args.gen_tokens} tokens, {args.rounds} alternated rounds (best / median)")
    print(f"cpu {rows[0]['cpu_model']} ({rows[0]['cpu_flags']}); libinfer "
          f"{rows[0]['libinfer_kernels']} kernels; llama.cpp extra buffer types (AMX, repacked "
          f"weights) {'on' if rows[0]['llama_cpp_extra_buffer_types'] else 'off (see tests/python/llama_cpp_ref.py)'}")
    print("| threads | prefill libinfer | prefill llama.cpp | ratio | decode libinfer | "
          "decode llama.cpp | ratio |")
    print("|---|---|---|---|---|---|---|")

    def pair(v):
        return f"{v['best']:.1f} / {v['median']:.1f}"

    def ratio(a, b):
        return f"{a['best'] / b['best']:.2f}x / {a['median'] / b['median']:.2f}x"

    for r in rows:
        print(f"| {r['threads']} | {pair(r['libinfer_prefill'])} | {pair(r['llama_cpp_prefill'])} | "
              f"{ratio(r['libinfer_prefill'], r['llama_cpp_prefill'])} | {pair(r['libinfer_decode'])} | "
              f"{pair(r['llama_cpp_decode'])} | {ratio(r['libinfer_decode'], r['llama_cpp_decode'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
