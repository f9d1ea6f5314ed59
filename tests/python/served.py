"""A running `infer-cli serve` for the end-to-end tests, and raw HTTP requests to it."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time


class ServerProcess:
    """`infer-cli serve MODEL` (with a 512 MiB KV cache), or `infer-cli serve --models FILE`
    when `model` is None and `extra` names the file; waits until it is ready."""

    def __init__(self, cli, model, *extra, env=None):
        head = [model, "--kv-cache-memory", "512M"] if model is not None else []
        self.proc = subprocess.Popen(
            [cli, "serve", *head, "--port", "0", *extra],
            stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        deadline = time.time() + 120
        self.port = None
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"http://[\d.]+:(\d+) \(ready\)", line)
            if m:
                self.port = int(m.group(1))
                break
        assert self.port, "server did not start: " + "".join(self.lines)
        # Keep draining stderr so the server never blocks on a full pipe.
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


# How long a request may wait for its response. The sanitizer builds run several times slower,
# and CTest runs the test files in parallel on two cores, so a server may share the CPU with
# another test's server there.
REQUEST_TIMEOUT_S = 300 if os.environ.get("INFER_SANITIZED") else 60


def request(server, method, path, body=None, headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT_S)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    conn.request(method, path, body=data, headers=headers or {"Content-Type": "application/json"})
    r = conn.getresponse()
    out = r.status, dict(r.getheaders()), r.read()
    conn.close()
    return out
