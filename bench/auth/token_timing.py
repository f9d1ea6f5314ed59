"""Times `POST /token` over loopback HTTP: unknown users against wrong passwords (they must cost
the same, so the time does not tell who exists), and logins per second per core.

    python3 bench/auth/token_timing.py --cli build/cli/infer-cli --model MODEL.gguf [--n 200]

Starts `infer-cli serve` with two argon2id users (the default OWASP-minimum cost) and the
failed-login limiter off (--no-login-limit, or the repeated failures would be refused instead
of measured), then sends the two kinds of failing login alternately on one keep-alive
connection, and finally correct logins from `--login-threads` clients at once.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import statistics
import subprocess
import time


def gen_password(cli, password):
    return subprocess.run([cli, "gen-password", "--password-stdin"], input=password, text=True,
                          capture_output=True, check=True).stdout.strip()


def start_server(cli, model, login_threads):
    env = dict(os.environ,
               JWT_KEY=subprocess.run([cli, "gen-password", "--jwt-key"], text=True,
                                      capture_output=True, check=True).stdout.strip(),
               USER_LIST="ALICE, BOB", ALICE_USERNAME="alice", ALICE_ROLE="admin",
               ALICE_HASHED_PASSWORD=gen_password(cli, "alice-pw"), BOB_USERNAME="bob",
               BOB_ROLE="guest", BOB_HASHED_PASSWORD=gen_password(cli, "bob-pw"))
    proc = subprocess.Popen([cli, "serve", model, "--port", "0", "--kv-cache-memory", "64M",
                             "--no-login-limit", "--login-threads", str(login_threads)],
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        m = re.search(r"http://[\d.]+:(\d+) \(ready\)", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError("server did not start")


def login(conn, username, password):
    body = f"username={username}&password={password}"
    t0 = time.perf_counter()
    conn.request("POST", "/token", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    return time.perf_counter() - t0, r.status


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--login-threads", type=int, default=2)
    args = ap.parse_args()
    proc, port = start_server(args.cli, args.model, args.login_threads)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(5):  # warm-up
            login(conn, "alice", "nope")
        times = {"unknown user": [], "wrong password": []}
        for i in range(args.n):
            t, s = login(conn, f"nobody-{i}", "wrong")
            assert s == 401, s
            times["unknown user"].append(t)
            t, s = login(conn, "alice", f"wrong-{i}")
            assert s == 401, s
            times["wrong password"].append(t)
        rows = []
        for kind, v in times.items():
            rows.append({"kind": kind, "n": len(v), "median_ms": 1e3 * statistics.median(v),
                         "p99_ms": 1e3 * pct(v, 0.99), "mean_ms": 1e3 * statistics.mean(v),
                         "stdev_ms": 1e3 * statistics.stdev(v)})

        def worker(_):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ok = 0
            for _ in range(args.n // 4):
                ok += login(c, "bob", "bob-pw")[1] == 200
            return ok

        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.login_threads) as ex:
            ok = sum(ex.map(worker, range(args.login_threads)))
        elapsed = time.perf_counter() - t0
        out = {"timings": rows, "logins": ok, "login_threads": args.login_threads,
               "logins_per_second": ok / elapsed,
               "logins_per_second_per_core": ok / elapsed / args.login_threads}
        print(json.dumps(out, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
