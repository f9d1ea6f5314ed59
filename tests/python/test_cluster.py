"""`infer-cli serve` spreading SmolLM2 over processes: tensor- and pipeline-parallel ranks started
by the leader give the same text as one process; a rank killed mid-stream turns into an error
event, failing /health and /ready, then a clean exit with status 3; a stranger on the leader's
cluster port and a worker with the wrong secret are turned away. Needs SmolLM2 (skips without)."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from served import ServerProcess

MODEL_NAME = "smollm2"
PROMPTS = [
    "The capital of France is",
    "Write a short poem about the sea.",
    "def fibonacci(n):",
    "List three colours:",
]


def complete(port, prompt, max_tokens=64, stream=False, timeout=120, **extra):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "stream": stream, **extra}
    conn.request("POST", "/v1/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    return conn, conn.getresponse()


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    out = r.status, r.read().decode()
    conn.close()
    return out


def texts(port):
    out = []
    for p in PROMPTS:
        conn, r = complete(port, p)
        assert r.status == 200
        out.append(json.loads(r.read())["choices"][0]["text"])
        conn.close()
    return out


@pytest.fixture(scope="module")
def reference(cli_tool, smollm2_path):
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", MODEL_NAME, "--threads", "1")
    try:
        yield texts(s.port)
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("tp,pp", [(2, 1), (1, 2), (2, 2)])
def test_ranks_in_processes_give_the_same_text_as_one(cli_tool, smollm2_path, reference, tp, pp):
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", MODEL_NAME, "--threads", "1",
                      "--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp))
    try:
        assert len(re.findall(r"started worker rank \d", "".join(s.lines))) == tp * pp - 1
        assert texts(s.port) == reference
        assert get(s.port, "/health")[0] == 200
    finally:
        assert s.stop() == 0, "".join(s.lines[-20:])
    # The workers leave with their leader.
    pids = [int(p) for p in re.findall(r"started worker rank \d+ \(pid (\d+)\)", "".join(s.lines))]
    time.sleep(0.5)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_encrypted_frames_give_the_same_text(cli_tool, smollm2_path, reference):
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", MODEL_NAME, "--threads", "1",
                      "--tensor-parallel-size", "2", "--cluster-encrypt")
    try:
        assert texts(s.port) == reference
    finally:
        assert s.stop() == 0, "".join(s.lines[-20:])


def test_a_killed_worker_fails_the_stream_then_the_leader_exits(cli_tool, smollm2_path):
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", MODEL_NAME, "--threads", "1",
                      "--tensor-parallel-size", "2", "--cluster-timeout", "5",
                      "--cluster-exit-delay", "4")
    pid = int(re.search(r"started worker rank 1 \(pid (\d+)\)", "".join(s.lines)).group(1))
    conn, r = complete(s.port, "Tell me a long story about a dragon.", max_tokens=2000,
                       stream=True, ignore_eos=True)
    assert r.status == 200
    first = r.readline()
    assert first.startswith(b"data: ")
    start = time.time()
    os.kill(pid, signal.SIGKILL)
    error = None
    for line in r:
        if line.startswith(b"data: {") and b'"error"' in line:
            error = json.loads(line[6:])["error"]
        if line.startswith(b"data: [DONE]"):
            break
    assert time.time() - start < 5, "the error took longer than the cluster timeout"
    assert error is not None and "rank 1" in error["message"], error
    conn.close()
    status, body = get(s.port, "/ready")
    assert status == 503
    status, body = get(s.port, "/health")
    assert status == 503 and "rank 1" in json.loads(body)["error"], body
    # New requests fail fast with 503 while the leader winds down.
    conn, r = complete(s.port, "Hello", max_tokens=4)
    assert r.status == 503
    conn.close()
    assert s.proc.wait(timeout=30) == 3, "".join(s.lines[-20:])
    assert "exiting in 4 s so that the group restarts" in "".join(s.lines)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_strangers_on_the_cluster_port_are_dropped(cli_tool, smollm2_path, tmp_path):
    port = free_port()
    secret = tmp_path / "secret"
    secret.write_text("the-cluster-secret-of-this-test\n")
    leader = subprocess.Popen(
        [cli_tool, "serve", smollm2_path, "--port", "0", "--kv-cache-memory", "256M",
         "--served-model-name", MODEL_NAME, "--threads", "1", "--tensor-parallel-size", "2",
         "--no-spawn-workers", "--cluster-address", f"127.0.0.1:{port}",
         "--cluster-secret-file", str(secret)],
        stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(leader.stderr), daemon=True).start()
    try:
        deadline = time.time() + 30
        while "listening on" not in "".join(lines):
            assert time.time() < deadline, "".join(lines)
            time.sleep(0.1)
        # Garbage, and a connection that says nothing: both are closed by the leader.
        for payload in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096)]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                try:
                    sock.sendall(payload)
                    assert sock.recv(4096) == b""
                except ConnectionResetError:
                    pass
        # A worker with the wrong secret is refused and exits non-zero.
        wrong = tmp_path / "wrong"
        wrong.write_text("not-the-cluster-secret-at-all!!")
        impostor = subprocess.run(
            [cli_tool, "worker", "--leader", f"127.0.0.1:{port}", "--rank", "1",
             "--tensor-parallel-size", "2", "--threads", "1", "--cluster-secret-file", str(wrong)],
            capture_output=True, text=True, timeout=60)
        assert impostor.returncode != 0
        assert leader.poll() is None, "the leader died: " + "".join(lines)
        # The real worker joins, and the leader serves.
        worker = subprocess.Popen(
            [cli_tool, "worker", "--leader", f"127.0.0.1:{port}", "--rank", "1",
             "--tensor-parallel-size", "2", "--threads", "1", "--cluster-secret-file",
             str(secret)], stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not re.search(r"http://[\d.]+:(\d+) \(ready\)", "".join(lines)):
            assert time.time() < deadline, "".join(lines)
            time.sleep(0.1)
        http_port = int(re.search(r"http://[\d.]+:(\d+) \(ready\)", "".join(lines)).group(1))
        assert "dropped a connection" in "".join(lines)
        conn, r = complete(http_port, "The capital of France is", max_tokens=8)
        assert r.status == 200
        conn.close()
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=60) == 0
        assert worker.wait(timeout=30) == 0
    finally:
        if leader.poll() is None:
            leader.kill()


def test_a_leader_waiting_for_its_ranks_stops_at_once_on_sigterm(cli_tool, smollm2_path,
                                                                  tmp_path):
    # A pod deleted while its group forms: the leader must not wait out the join timeout.
    port = free_port()
    secret = tmp_path / "secret"
    secret.write_text("the-cluster-secret-of-this-test\n")
    leader = subprocess.Popen(
        [cli_tool, "serve", smollm2_path, "--port", "0", "--kv-cache-memory", "256M",
         "--threads", "1", "--tensor-parallel-size", "2", "--no-spawn-workers",
         "--cluster-address", f"127.0.0.1:{port}", "--cluster-secret-file", str(secret),
         "--cluster-join-timeout", "600"],
        stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(leader.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 30
        while "listening on" not in "".join(lines):
            assert time.time() < deadline, "".join(lines)
            time.sleep(0.1)
        start = time.time()
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=20) == 0, "".join(lines)
        assert time.time() - start < 10
        reader.join(timeout=10)  # the rest of stderr
        assert "SIGTERM while starting: exiting" in "".join(lines)
    finally:
        if leader.poll() is None:
            leader.kill()


def test_a_worker_started_first_waits_then_leaves_cleanly_on_sigterm(cli_tool, smollm2_path,
                                                                     tmp_path):
    """A LeaderWorkerSet may start a worker pod before its leader: the worker keeps retrying
    (logging why) instead of giving up. Once serving, SIGTERM on the worker (the kubelet stopping
    its pod) makes it leave the group: the stream in flight ends with an error naming the leave
    within 2 s, the worker exits 0 within 2 s, the leader's /ready and /health fail, and the
    leader exits with status 3 so that the LeaderWorkerSet recreates the group."""
    port = free_port()
    secret = tmp_path / "secret"
    secret.write_text("the-cluster-secret-of-this-test\n")
    worker = subprocess.Popen(
        [cli_tool, "worker", "--leader", f"127.0.0.1:{port}", "--rank", "1",
         "--tensor-parallel-size", "2", "--threads", "1", "--cluster-secret-file", str(secret)],
        stderr=subprocess.PIPE, text=True)
    worker_lines = []
    threading.Thread(target=lambda: worker_lines.extend(worker.stderr), daemon=True).start()
    leader = None
    try:
        time.sleep(5)
        assert worker.poll() is None, "the worker gave up: " + "".join(worker_lines)
        assert f"cannot reach 127.0.0.1:{port} yet" in "".join(worker_lines), worker_lines
        leader = subprocess.Popen(
            [cli_tool, "serve", smollm2_path, "--port", "0", "--kv-cache-memory", "256M",
             "--served-model-name", MODEL_NAME, "--threads", "1", "--tensor-parallel-size", "2",
             "--no-spawn-workers", "--cluster-address", f"127.0.0.1:{port}",
             "--cluster-secret-file", str(secret), "--cluster-exit-delay", "3"],
            stderr=subprocess.PIPE, text=True)
        lines = []
        threading.Thread(target=lambda: lines.extend(leader.stderr), daemon=True).start()
        deadline = time.time() + 90
        while not re.search(r"http://[\d.]+:(\d+) \(ready\)", "".join(lines)):
            assert time.time() < deadline, "".join(lines)
            time.sleep(0.1)
        http_port = int(re.search(r"http://[\d.]+:(\d+) \(ready\)", "".join(lines)).group(1))
        conn, r = complete(http_port, "Tell me a long story about a dragon.", max_tokens=2000,
                           stream=True, ignore_eos=True)
        assert r.status == 200
        assert r.readline().startswith(b"data: ")
        start = time.time()
        worker.send_signal(signal.SIGTERM)
        error, chunks = None, 0
        for line in r:
            if line.startswith(b"data: {") and b'"error"' in line:
                error = json.loads(line[6:])["error"]
            elif line.startswith(b"data: {"):
                chunks += 1
            if line.startswith(b"data: [DONE]"):
                break
        ended = time.time() - start
        conn.close()
        assert error is not None, f"the stream ended without an error after {chunks} chunks"
        assert "rank 1" in error["message"] and "left the group" in error["message"], error
        assert ended < 2, f"the stream ended {ended:.2f} s after SIGTERM"
        assert worker.wait(timeout=max(0.1, 2 - (time.time() - start))) == 0, worker_lines
        assert "left the group" in "".join(worker_lines), worker_lines
        assert get(http_port, "/ready")[0] == 503
        status, body = get(http_port, "/health")
        assert status == 503 and "left the group" in json.loads(body)["error"], body
        assert leader.wait(timeout=30) == 3, "".join(lines[-20:])
        assert "exiting in 3 s so that the group restarts" in "".join(lines)
    finally:
        for p in (worker, leader):
            if p is not None and p.poll() is None:
                p.kill()
