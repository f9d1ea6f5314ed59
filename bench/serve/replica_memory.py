"""What a model set replica really holds, against what the set reserves for it.

For each model, a fresh `infer-cli serve --models` process starts with a negligible anchor model
(a generated 2-layer model), reads its own resident set, deploys the model through
POST /v1/admin/models (whose plan gives the computed cost), then drives the replica to its
peak: as many concurrent requests as max_num_seqs, with prompts that make the scheduler's
steps full (max_num_batched_tokens) and that together need more KV blocks than the cache has,
so every block is written. The replica's peak is the process's VmHWM after that, less the
resident set before the deploy.

    python3 bench/serve/replica_memory.py [--cli build/cli/infer-cli] [--smollm2 PATH]

Prints one line per model: computed cost, measured peak, and computed / measured.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))

import make_tiny_models  # noqa: E402  pylint: disable=wrong-import-position

MiB = 1 << 20
ADMIN = "admin-key-0123456789abcdef"


def status_bytes(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def measure(cli, anchor, name, path, scheduler, context, prompt_words, max_tokens):
    with tempfile.TemporaryDirectory() as tmp:
        models = os.path.join(tmp, "models.yaml")
        with open(models, "w") as f:
            f.write(f"models:\n  - name: anchor\n    path: {anchor}\n    threads: 1\n"
                    f"    scheduler: {{max_num_seqs: 1, kv_cache_memory: 1MiB}}\n")
        proc = subprocess.Popen([cli, "serve", "--models", models, "--port", "0",
                                 "--admin-api-key", ADMIN, "--models-poll", "0", "--threads", "2"],
                                stderr=subprocess.PIPE, text=True)
        port = None
        for line in proc.stderr:
            m = re.search(r"http://[\d.]+:(\d+) \(ready\)", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "server did not start"
        try:
            time.sleep(0.5)
            before = status_bytes(proc.pid, "VmRSS")
            plan = post(port, "/v1/admin/models",
                        {"name": name, "path": path, "context_length": context, "threads": 2,
                         "scheduler": scheduler})["plan"]
            cost = plan["loads"][0]["bytes_per_rank"]
            described = plan["loads"][0]["cost"]
            prompt = " ".join(["story"] * prompt_words)

            def one(i):
                return post(port, "/v1/completions",
                            {"model": name, "prompt": f"{i} {prompt}", "max_tokens": max_tokens,
                             "temperature": 0, "ignore_eos": True})["usage"]

            n = scheduler["max_num_seqs"]
            with concurrent.futures.ThreadPoolExecutor(n) as pool:
                usage = list(pool.map(one, range(2 * n)))
            peak = status_bytes(proc.pid, "VmHWM") - before
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    tokens = sum(u["prompt_tokens"] + u["completion_tokens"] for u in usage)
    return cost, peak, described, tokens


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", default=os.path.join(HERE, "..", "..", "build", "cli", "infer-cli"))
    p.add_argument("--smollm2", default=os.environ.get("INFER_SMOLLM2_GGUF"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_tiny_models.make_all(tmp)
        tiny = manifest["models"]
        cases = [
            ("tiny-f32", tiny["gguf_f32"]["path"],
             {"max_num_seqs": 8, "max_num_batched_tokens": 256, "kv_cache_memory": "256KiB"},
             128, 12, 60),
            ("tiny-qwen2", tiny["gguf_qwen2"]["path"],
             {"max_num_seqs": 8, "max_num_batched_tokens": 256, "kv_cache_memory": "256KiB"},
             128, 12, 60),
        ]
        if args.smollm2:
            for seqs, tokens, kv in ((4, 256, "32MiB"), (4, 512, "64MiB"), (8, 512, "128MiB")):
                cases.append((f"smollm2 (max_num_seqs {seqs}, max_num_batched_tokens {tokens}, "
                              f"KV {kv})", args.smollm2,
                              {"max_num_seqs": seqs, "max_num_batched_tokens": tokens,
                               "kv_cache_memory": kv}, 1024, 300, 100))
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        print(f"cpu: {cpu}, {os.cpu_count()} cores")
        for name, path, scheduler, context, words, max_tokens in cases:
            cost, peak, described, tokens = measure(args.cli, tiny["gguf_q8_0"]["path"],
                                                    name.split()[0], path, scheduler, context,
                                                    words, max_tokens)
            print(f"{name}: computed {cost / MiB:.1f} MiB ({described}); measured peak "
                  f"{peak / MiB:.1f} MiB over {tokens} tokens; computed / measured = "
                  f"{cost / peak:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
