"""`infer-cli serve` over real loopback HTTP: the official `openai` client, raw HTTP for malformed
requests, streaming, disconnects, concurrency and SIGTERM. Needs SmolLM2 (skips without it)."""
import concurrent.futures
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

openai = pytest.importorskip("openai")


from served import ServerProcess, request  # noqa: E402  pylint: disable=wrong-import-position


def metrics(server):
    """The /metrics samples by name and labels, summed over the model and replica labels."""
    _, _, body = request(server, "GET", "/metrics")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            if "{" in name:
                base, labels = name[:-1].split("{", 1)
                kept = [l for l in re.findall(r'[a-z_]+="(?:[^"\\]|\\.)*"', labels)
                        if not l.startswith(("model=", "replica="))]
                name = base + ("{" + ",".join(kept) + "}" if kept else "")
            values[name] = values.get(name, 0.0) + float(value)
    return values


CHAT = [{"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"}]


def test_models_health_ready(server, client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["smollm2"]
    assert models.data[0].model_extra["max_model_len"] == 8192
    assert models.data[0].model_extra["file_type"] == "Q4_1"  # the file's general.file_type
    assert request(server, "GET", "/health")[0] == 200
    assert request(server, "GET", "/ready")[0] == 200
    assert client.models.retrieve("smollm2").id == "smollm2"
    status, _, body = request(server, "GET", "/v1/models/other")
    assert status == 404 and json.loads(body)["error"]["code"] == "model_not_found"


def test_one_log_line_per_request(server, client):
    r = client.completions.create(model="smollm2", prompt="Hi", max_tokens=3, temperature=0)
    deadline = time.time() + 5
    pattern = re.compile(r"127\.0\.0\.1:\d+ " + re.escape(r.id) +
                         r" POST /v1/completions -> 200, \d+\+3 tokens, [\d.]+ s")
    while time.time() < deadline and not any(pattern.search(l) for l in server.lines):
        time.sleep(0.05)
    time.sleep(0.3)  # a second line, if one were written, has come by now
    mine = [l for l in list(server.lines) if r.id in l]
    assert len(mine) == 1 and pattern.search(mine[0]), mine or server.lines[-5:]


def test_chat_matches_completion_of_the_jinja2_rendered_prompt(server, client, smollm2_path):
    jinja2 = pytest.importorskip("jinja2")
    import gguf  # the template comes from the file, rendered by the reference engine
    reader = gguf.GGUFReader(smollm2_path)
    field = reader.fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    prompt = env.from_string(template).render(messages=CHAT, add_generation_prompt=True,
                                              bos_token="<|im_start|>", eos_token="<|im_end|>")
    chat = client.chat.completions.create(model="smollm2", messages=CHAT, temperature=0,
                                          max_tokens=24)
    text = client.completions.create(model="smollm2", prompt=prompt, temperature=0,
                                     max_tokens=24)
    assert chat.choices[0].message.role == "assistant"
    assert "Paris" in chat.choices[0].message.content
    assert chat.choices[0].message.content == text.choices[0].text
    assert chat.usage.prompt_tokens == text.usage.prompt_tokens
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens


def test_chat_stream_equals_non_stream(client):
    whole = client.chat.completions.create(model="smollm2", messages=CHAT, temperature=0,
                                           max_tokens=20)
    chunks = list(client.chat.completions.create(
        model="smollm2", messages=CHAT, temperature=0, max_tokens=20, stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == \
        whole.usage.completion_tokens


def test_streams_in_a_row_on_one_keep_alive_connection(server, client):
    """Each stream's chunks are written through a per-connection outbox and spaced by the flush
    interval; two streams in a row on one connection must each arrive whole and in order."""
    body = {"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 12,
            "temperature": 0}
    whole = client.completions.create(**body).choices[0].text
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sockets = []
    for _ in range(3):
        conn.request("POST", "/v1/completions", body=json.dumps({**body, "stream": True}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Connection") == "keep-alive"
        events = [line[len("data: "):] for line in r.read().decode().split("\n")
                  if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert "".join(c["choices"][0]["text"] for c in chunks) == whole
        assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "length"
        sockets.append(conn.sock)
    assert sockets[0] is not None and all(s is sockets[0] for s in sockets)
    conn.close()


def test_completions_echo_stop_logprobs_and_n(client):
    r = client.completions.create(model="smollm2", prompt="The capital of France is",
                                  temperature=0, max_tokens=8, echo=True, logprobs=2)
    assert r.choices[0].text.startswith("The capital of France is")
    assert len(r.choices[0].logprobs.tokens) == r.usage.completion_tokens
    assert all(len(t) <= 2 for t in r.choices[0].logprobs.top_logprobs)
    full = client.completions.create(model="smollm2", prompt="Count: 1, 2, 3,", temperature=0,
                                     max_tokens=12).choices[0].text
    stop = full.strip()[2:4]
    cut = client.completions.create(model="smollm2", prompt="Count: 1, 2, 3,", temperature=0,
                                    max_tokens=12, stop=[stop])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == full[:full.index(stop)]
    many = client.chat.completions.create(model="smollm2", messages=CHAT, temperature=0.9,
                                          seed=5, max_tokens=8, n=3)
    assert [c.index for c in many.choices] == [0, 1, 2]
    again = client.chat.completions.create(model="smollm2", messages=CHAT, temperature=0.9,
                                           seed=5, max_tokens=8, n=3)
    assert [c.message.content for c in many.choices] == [c.message.content for c in again.choices]
    # The n choices are n samples, not one copied; another seed gives other samples (seeded, so
    # these hold run after run).
    story = [{"role": "user", "content": "Write one sentence about a cat."}]
    first = client.chat.completions.create(model="smollm2", messages=story, temperature=1.0,
                                           seed=5, max_tokens=16, n=3)
    texts = [c.message.content for c in first.choices]
    assert len(set(texts)) > 1, texts
    other = client.chat.completions.create(model="smollm2", messages=story, temperature=1.0,
                                           seed=6, max_tokens=16, n=3)
    assert [c.message.content for c in other.choices] != texts
    lp = client.chat.completions.create(model="smollm2", messages=CHAT, temperature=0,
                                        max_tokens=4, logprobs=True, top_logprobs=3)
    content = lp.choices[0].logprobs.content
    assert len(content) == lp.usage.completion_tokens
    assert all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in content)


MALFORMED = [
    ("bad JSON", "/v1/chat/completions", b"{not json", 400, None),
    ("array body", "/v1/chat/completions", b"[]", 400, None),
    ("no messages", "/v1/chat/completions", {"model": "smollm2"}, 400, "messages"),
    ("empty messages", "/v1/chat/completions", {"messages": []}, 400, "messages"),
    ("bad role", "/v1/chat/completions", {"messages": [{"role": "x", "content": "a"}]}, 400,
     "messages[0].role"),
    ("max_tokens string", "/v1/chat/completions", {"messages": CHAT, "max_tokens": "5"}, 400,
     "max_tokens"),
    ("negative max_tokens", "/v1/chat/completions", {"messages": CHAT, "max_tokens": -1}, 400,
     "max_tokens"),
    ("huge max_tokens", "/v1/chat/completions", {"messages": CHAT, "max_tokens": 10 ** 7}, 400,
     "messages"),
    ("n zero", "/v1/chat/completions", {"messages": CHAT, "n": 0}, 400, "n"),
    ("n huge", "/v1/chat/completions", {"messages": CHAT, "n": 1000}, 400, "n"),
    ("top_logprobs", "/v1/chat/completions",
     {"messages": CHAT, "logprobs": True, "top_logprobs": 50}, 400, "top_logprobs"),
    ("temperature", "/v1/chat/completions", {"messages": CHAT, "temperature": 7}, 400,
     "temperature"),
    ("unknown model", "/v1/chat/completions", {"model": "gpt-9", "messages": CHAT}, 404, "model"),
    ("completions prompt type", "/v1/completions", {"prompt": {"a": 1}}, 400, "prompt"),
    ("unknown route", "/v1/nothing", {}, 404, None),
    # Fields this server cannot honour are refused by name, never ignored.
    ("tool_choice without tools", "/v1/chat/completions",
     {"messages": CHAT, "tool_choice": "required"}, 400, "tool_choice"),
    ("logit_bias outside the vocabulary", "/v1/chat/completions",
     {"messages": CHAT, "logit_bias": {"4000000": 5}}, 400, None),
    ("guided_json not a schema", "/v1/chat/completions", {"messages": CHAT, "guided_json": 5},
     400, "guided_json"),
    ("response_format without a schema", "/v1/chat/completions",
     {"messages": CHAT, "response_format": {"type": "json_schema", "json_schema": {}}}, 400,
     "response_format.json_schema.schema"),
    ("suffix", "/v1/completions", {"prompt": "a", "suffix": "b"}, 400, "suffix"),
    # One rule for every other field: it works, or it is refused by name (unknown ones too).
    ("unknown field", "/v1/chat/completions", {"messages": CHAT, "frobnicate": 1}, 400,
     "frobnicate"),
    ("field of the other route", "/v1/chat/completions", {"messages": CHAT, "prompt": "x"}, 400,
     "prompt"),
    ("store true", "/v1/chat/completions", {"messages": CHAT, "store": True}, 400, "store"),
    ("audio", "/v1/chat/completions", {"messages": CHAT, "audio": {"voice": "x"}}, 400, "audio"),
    ("min_tokens", "/v1/completions", {"prompt": "a", "min_tokens": 3}, 400, "min_tokens"),
    ("modalities audio", "/v1/chat/completions",
     {"messages": CHAT, "modalities": ["text", "audio"]}, 400, "modalities"),
    ("stop_token_ids", "/v1/completions", {"prompt": "a", "stop_token_ids": ["x"]}, 400,
     "stop_token_ids"),
    ("best_of", "/v1/completions", {"prompt": "a", "best_of": 3}, 400, "best_of"),
]


@pytest.mark.parametrize("name,path,body,status,param", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_openai_errors(server, name, path, body, status, param):
    raw = body if isinstance(body, bytes) else None
    got, _, data = request(server, "POST", path, body=None if raw else body, raw=raw)
    assert got == status, data
    err = json.loads(data)["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if param:
        assert err["param"] == param, err
    if name == "huge max_tokens":
        assert "8192" in err["message"] and str(10 ** 7) in err["message"]


def test_neutral_values_of_unsupported_fields_pass(client):
    # What clients send by default: text output, no tools, no bias.
    r = client.chat.completions.create(model="smollm2", messages=CHAT, max_tokens=2,
                                       response_format={"type": "text"}, tool_choice="none",
                                       logit_bias={}, store=False, metadata={"team": "a"},
                                       service_tier="auto", modalities=["text"],
                                       prompt_cache_key="k", safety_identifier="u1",
                                       extra_body={"skip_special_tokens": True, "priority": 3})
    assert r.choices[0].message.content is not None


def test_stop_token_ids_end_the_generation(client):
    plain = client.completions.create(model="smollm2", prompt="The capital of France is",
                                      max_tokens=3, temperature=0)
    assert plain.choices[0].finish_reason == "length"
    # Token 997 forced by logit_bias, and named as a stop token: the answer ends with it.
    r = client.completions.create(model="smollm2", prompt="The capital of France is",
                                  max_tokens=3, temperature=0, logit_bias={"997": 100},
                                  extra_body={"stop_token_ids": [997]})
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens == 1, r


def test_transport_limits_and_the_server_keeps_serving(server, client):
    assert request(server, "GET", "/v1/completions")[0] == 405
    status, _, data = request(server, "POST", "/v1/completions",
                              raw=b'{"prompt": "' + b"a" * (9 << 20) + b'"}')
    assert status == 413 and json.loads(data)["error"]["message"]
    status, _, _ = request(server, "GET", "/health", headers={"X-Big": "b" * (20 << 10)})
    assert status == 431
    # A truncated body: the server waits, then gives up on that connection alone.
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pr")
    # Meanwhile others are served.
    r = client.completions.create(model="smollm2", prompt="Hi", max_tokens=2, temperature=0)
    assert r.usage.completion_tokens == 2
    sock.settimeout(30)
    assert sock.recv(100) == b""  # closed by the request timeout
    sock.close()


def read_sse_events(resp, times=None):
    events = []
    for raw in resp:
        line = raw.decode().strip()
        if line.startswith("data: "):
            events.append(line[6:])
            if times is not None:
                times.append(time.monotonic())
    return events


def stream_chat(server, max_tokens, content="Tell me a story.", disconnect_after=None,
                times=None):
    """The stream's `data:` payloads; `times` (a list), when given, gets each one's arrival."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "stream": True, "temperature": 0}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    if disconnect_after is not None:
        for _ in range(disconnect_after):
            resp.readline()
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        return None
    events = read_sse_events(resp, times)
    conn.close()
    return events


def test_many_streams_and_disconnects_free_everything(server):
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        done = [pool.submit(stream_chat, server, 12, f"Say something about {i}.")
                for i in range(32)]
        gone = [pool.submit(stream_chat, server, 2000, f"Write a long essay {i}.",
                            disconnect_after=6) for i in range(32)]
        for f in gone:
            f.result()
        for f in done:
            events = f.result()
            assert events[-1] == "[DONE]"
            chunks = [json.loads(e) for e in events[:-1]]
            assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
            assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    deadline = time.time() + 1.5
    while time.time() < deadline:
        m = metrics(server)
        if m["infer_num_requests_running"] == 0 and m["infer_kv_cache_blocks_used"] == 0:
            break
        time.sleep(0.05)
    m = metrics(server)
    assert m["infer_num_requests_running"] == 0 and m["infer_kv_cache_blocks_used"] == 0
    assert m['infer_requests_finished_total{finish_reason="abort"}'] >= 32


def test_metrics_names(server):
    m = metrics(server)
    for name in ("infer_num_requests_waiting", "infer_num_requests_running",
                 "infer_kv_cache_usage_ratio", "infer_prefix_cache_hit_rate",
                 "infer_prompt_tokens_total", "infer_generation_tokens_total",
                 "infer_time_to_first_token_seconds_count",
                 "infer_time_per_output_token_seconds_count"):
        assert name in m, name
    assert any(k.startswith('infer_http_requests_total{status="200"}') for k in m)


def test_sigterm_finishes_in_flight_requests(cli_tool, smollm2_path):
    # A shutdown timeout no busy machine reaches: this is about finishing, not about speed (the
    # streams cut at the timeout are the next test's).
    s = ServerProcess(cli_tool, smollm2_path, "--shutdown-timeout", "300")
    times = [[] for _ in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(stream_chat, s, 40, f"Story {i}.", times=times[i])
                   for i in range(8)]
        deadline = time.monotonic() + 60
        while not any(times) and time.monotonic() < deadline:
            time.sleep(0.01)
        sigterm_at = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        for f in futures:
            events = f.result()
            assert events[-1] == "[DONE]"
            # Finished, not cut: a cancelled stream also ends with [DONE], but says "abort".
            assert json.loads(events[-2])["choices"][0]["finish_reason"] in ("stop", "length")
    # At least one stream had started before the signal and went on after it.
    assert any(t and t[0] < sigterm_at < t[-1] for t in times), "no stream ran across SIGTERM"
    assert s.proc.wait(timeout=60) == 0


def test_streams_still_running_at_the_shutdown_timeout_end_cleanly(cli_tool, smollm2_path):
    s = ServerProcess(cli_tool, smollm2_path, "--shutdown-timeout", "0.5")
    times = [[] for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(stream_chat, s, 4000, f"Write a very long essay {i}.",
                               times=times[i]) for i in range(4)]
        # Every stream is running (a busy machine may take seconds to start them all).
        deadline = time.monotonic() + 60
        while not all(times) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(times), "the four streams did not all start"
        s.proc.send_signal(signal.SIGTERM)
        for f in futures:
            events = f.result()
            assert events[-1] == "[DONE]", events[-3:]
            last = json.loads(events[-2])
            # OpenAI has no name for a cut request; "abort" is vLLM's, and the only other.
            assert last["choices"][0]["finish_reason"] == "abort", last
    assert s.proc.wait(timeout=60) == 0
    assert any("cancelling" in line for line in s.lines), "".join(s.lines[-10:])


def test_a_small_kv_cache_serves_the_context_it_holds(cli_tool, smollm2_path):
    # 64 MiB holds ~1456 of SmolLM2's 8192 positions: the server serves that context (and
    # says so) instead of refusing every chat that gives no max_tokens.
    proc = subprocess.Popen([cli_tool, "serve", smollm2_path, "--port", "0", "--kv-cache-memory",
                             "64M", "--served-model-name", "small"],
                            stderr=subprocess.PIPE, text=True)
    lines, port = [], None
    while port is None:
        line = proc.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
        m = re.search(r"http://[\d.]+:(\d+) \(ready\)", line)
        port = int(m.group(1)) if m else None
    threading.Thread(target=lambda: [lines.append(x) for x in proc.stderr], daemon=True).start()
    try:
        assert any("serving a context of" in x for x in lines), "".join(lines)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused",
                               max_retries=0)
        served = client.models.list().data[0].model_extra["max_model_len"]
        assert 1000 < served < 8192, served
        reply = client.chat.completions.create(
            model="small", temperature=0,
            messages=[{"role": "user", "content": "What is 2 + 2?"}])
        assert reply.choices[0].finish_reason in ("stop", "length")
        assert reply.choices[0].message.content
        # Asking for more than the served context is refused, naming it.
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model="small", prompt="Hi", max_tokens=served + 1)
        assert str(served) in str(e.value)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_embedding_example_serves_its_own_route(smollm2_path):
    example = os.environ.get("INFER_OPENAI_SERVER_EXAMPLE")
    if not example or not os.path.exists(example):
        pytest.skip("examples/openai_server is not built (INFER_OPENAI_SERVER_EXAMPLE)")
    proc = subprocess.Popen([example, smollm2_path, "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)$", line.strip()).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v1/hello", body="Hello world")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["tokens"] == 2
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x")
        chat = client.chat.completions.create(model=client.models.list().data[0].id,
                                              messages=CHAT, max_tokens=4, temperature=0)
        assert chat.usage.completion_tokens == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_a_bounded_queue_answers_503_with_retry_after(cli_tool, smollm2_path):
    """One sequence slot, one queue place, a 1.5 s queue timeout: with the slot busy, a request
    beyond the queue is refused at once and a queued one when its wait runs out, each with a
    plain 503 in OpenAI's shape and Retry-After (a stream too: its headers wait until it
    starts, so a refused stream is no stream); /metrics shows the queue's wait and refusals."""
    import openai

    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", "smollm2", "--threads", "1",
                      "--max-num-seqs", "1", "--max-queued-requests", "1",
                      "--queue-timeout", "1.5")

    def post(body, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout)
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        return conn, conn.getresponse()

    def chat(stream, max_tokens=4, **extra):
        return {"model": "smollm2", "stream": stream, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "Hello"}], **extra}

    def refused(r, started, needle):
        body = r.read()
        waited = time.time() - started
        assert r.status == 503, body
        assert r.getheader("Retry-After") == "1"
        assert r.getheader("Content-Type").startswith("application/json")
        error = json.loads(body)["error"]
        assert error["type"] == "server_error" and needle in error["message"], error
        return waited

    try:
        busy_conn, busy = post(chat(True, max_tokens=4000, ignore_eos=True), timeout=120)
        assert busy.status == 200
        assert busy.readline().startswith(b"data: ")  # holds the only slot from now on
        queued = concurrent.futures.ThreadPoolExecutor(1).submit(
            lambda: (time.time(), *post(chat(False))))
        time.sleep(0.5)
        started = time.time()
        _, full = post(chat(True))
        assert refused(full, started, "queue is full") < 0.5
        started, _, r = queued.result(timeout=30)
        assert 1.4 < refused(r, started, "queue timeout") < 5
        started = time.time()
        _, r = post(chat(True))
        assert 1.4 < refused(r, started, "queue timeout") < 5
        client = openai.OpenAI(base_url=s.url() + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as e:
            client.chat.completions.create(model="smollm2", max_tokens=4,
                                           messages=[{"role": "user", "content": "Hi"}])
        assert e.value.status_code == 503 and "queue timeout" in e.value.message
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        timeouts = re.search(r"^infer_queue_timeouts_total\{[^}]*\} (\S+)$", metrics, re.M)
        assert timeouts and float(timeouts.group(1)) == 3, metrics
        assert re.search(r"^infer_queue_oldest_wait_seconds\{[^}]*\} \S+$", metrics, re.M)
        assert re.search(r'^infer_http_requests_total\{status="503"\} 4$', metrics, re.M)
        busy_conn.close()
    finally:
        assert s.stop() == 0, "".join(s.lines[-20:])


def test_library_chat_api_equals_the_server(client, cli_tool, smollm2_path):
    """Model::Generate(messages) (through `infer-cli generate --chat`) renders and runs the same
    prompt as /v1/chat/completions: the same prompt tokens and the same greedy text."""
    for system, user in [("", "What is the capital of France?"),
                         ("Be brief.", "Name three colours.")]:
        messages = ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": user}]
        served = client.chat.completions.create(model="smollm2", messages=messages,
                                                temperature=0, max_tokens=24)
        args = [cli_tool, "generate", "-m", smollm2_path, "--chat", "-p", user, "-t", "0",
                "-n", "24", "--json", "--threads", "2"]
        if system:
            args += ["--system", system]
        out = json.loads(subprocess.run(args, capture_output=True, check=True,
                                        text=True).stdout)
        assert out["prompt_tokens"] == served.usage.prompt_tokens
        assert out["text"] == served.choices[0].message.content
