#!/usr/bin/env python3
"""Structured output's cost on decode: `infer-cli bench` with and without `--json-schema`,
rounds alternated, single stream and batched (default 16 requests), best and median of each and
their ratio. Run it alone on the machine (no build or test beside it). The schema must not end
before --gen-tokens (records.json asks for at least 40 records), or the constrained requests
stop early and the batched figure measures a smaller batch.

  bench/grammar/grammar_overhead.py --cli build/cli/infer-cli --model SmolLM2.gguf \\
      --schema bench/grammar/records.json --rounds 3
"""

import argparse
import json
import platform
import statistics
import subprocess


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run(args, schema):
    cmd = [args.cli, "bench", "--model", args.model, "--threads", str(args.threads),
           "--prompt-tokens", str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens),
           "--repetitions", "2", "--concurrency", str(args.concurrency), "--json"]
    if schema:
        cmd += ["--json-schema", schema]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return out["decode_tokens_per_second"], out["scheduler"]["levels"][0]["decode_tokens_per_second"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", default="build/cli/infer-cli")
    p.add_argument("--model", required=True)
    p.add_argument("--schema", default="bench/grammar/records.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    rows = {"plain": [], "grammar": []}
    for _ in range(args.rounds):
        rows["plain"].append(run(args, None))
        rows["grammar"].append(run(args, args.schema))
    print(f"cpu: {cpu_model()}, {args.threads} threads; prompt {args.prompt_tokens}, "
          f"{args.gen_tokens} generated; schema {args.schema}")
    for i, label in enumerate(["single stream", f"{args.concurrency} streams"]):
        plain = [r[i] for r in rows["plain"]]
        grammar = [r[i] for r in rows["grammar"]]
        print(f"{label:>14}: plain best {max(plain):7.1f} median {statistics.median(plain):7.1f} | "
              f"grammar best {max(grammar):7.1f} median {statistics.median(grammar):7.1f} | "
              f"ratio best {max(grammar) / max(plain):.3f} "
              f"median {statistics.median(grammar) / statistics.median(plain):.3f}")


if __name__ == "__main__":
    main()
