"""`infer-cli serve --models models.yaml`: three models behind one server (SmolLM2 with two
replicas and two generated tiny models), each answered by name through the official `openai`
client; the admin routes deploy, scale and remove with the plan or the reason; a deploy that
does not fit changes nothing; `max` places what the arithmetic says; a scale-down drains its
streams; a bad models file is refused whole, at start and on reload."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from served import ServerProcess  # noqa: E402  pylint: disable=wrong-import-position

openai = pytest.importorskip("openai")

USER_KEY = "user-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
LIMIT = 3 << 30  # --host-memory-limit: what the replicas may reserve in all
MiB = 1 << 20


def models_yaml(smol, tiny_a, tiny_b, with_b=True):
    text = f"""models:
  - name: smol
    path: {smol}
    replicas: 2
    context_length: 1024
    threads: 1
    sampling: {{temperature: 0, max_tokens: 12}}
  - name: tiny-a
    path: {tiny_a}
    threads: 1
"""
    if with_b:
        text += f"""  - name: tiny-b
    path: {tiny_b}
    threads: 1
    scheduler: {{max_num_seqs: 4}}
"""
    return text


@pytest.fixture(scope="module")
def paths(smollm2_path, tiny_models):
    return (smollm2_path, tiny_models["models"]["gguf_q8_0"]["path"],
            tiny_models["models"]["gguf_qwen2"]["path"])


@pytest.fixture(scope="module")
def models_file(tmp_path_factory, paths):
    path = tmp_path_factory.mktemp("model_set") / "models.yaml"
    path.write_text(models_yaml(*paths))
    return path


@pytest.fixture(scope="module")
def server(cli_tool, models_file):
    s = ServerProcess(cli_tool, None, "--models", str(models_file), "--host-memory-limit",
                      str(LIMIT), "--api-key", USER_KEY, "--admin-api-key", ADMIN_KEY,
                      "--models-poll", "0.2", "--shutdown-timeout", "120")  # the drain window
    yield s
    assert s.stop() == 0, "".join(s.lines[-30:])


def call(server, method, path, body=None, key=ADMIN_KEY):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def client(server):
    return openai.OpenAI(base_url=server.url() + "/v1", api_key=USER_KEY, max_retries=0)


def host(server):
    status, body = call(server, "GET", "/v1/admin/devices")
    assert status == 200, body
    return next(d for d in body["data"] if d["id"] == "host")


def replicas(server):
    status, body = call(server, "GET", "/v1/admin/models")
    assert status == 200, body
    return {m["name"]: len(m["replicas"]) for m in body["data"]}


def wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_each_model_answers_by_name_through_the_openai_client(server):
    c = client(server)
    assert sorted(m.id for m in c.models.list().data) == ["smol", "tiny-a", "tiny-b"]
    reply = c.chat.completions.create(
        model="smol", extra_body={"ignore_eos": True},
        messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert reply.model == "smol" and reply.choices[0].message.content
    # smol's sampling defaults (max_tokens 12) fill what the request leaves out ...
    assert reply.usage.completion_tokens == 12
    # ... and the request's own fields win.
    short = c.chat.completions.create(model="smol", max_tokens=3,
                                      messages=[{"role": "user", "content": "Hi"}])
    assert short.usage.completion_tokens == 3
    for name in ("tiny-a", "tiny-b"):
        done = c.completions.create(model=name, prompt="The", max_tokens=5, temperature=0)
        assert done.model == name and done.usage.completion_tokens == 5
    # Two different tiny models (a Llama and a Qwen2): their greedy continuations differ.
    a = c.completions.create(model="tiny-a", prompt="hello world", max_tokens=16, temperature=0)
    b = c.completions.create(model="tiny-b", prompt="hello world", max_tokens=16, temperature=0)
    assert a.choices[0].text != b.choices[0].text
    with pytest.raises(openai.NotFoundError) as e:
        c.completions.create(model="nope", prompt="x", max_tokens=1)
    assert e.value.body["code"] == "model_not_found"
    assert "`smol`" in e.value.body["message"] and "`tiny-b`" in e.value.body["message"]
    # Without `model`, a server of several models cannot guess.
    status, body = call(server, "POST", "/v1/completions", {"prompt": "x"}, key=USER_KEY)
    assert status == 400 and body["error"]["param"] == "model"


def test_the_admin_routes_are_for_admins(server):
    assert call(server, "GET", "/v1/admin/devices", key=None)[0] == 401
    assert call(server, "GET", "/v1/admin/devices", key=USER_KEY)[0] == 403
    assert call(server, "POST", "/v1/admin/models/smol/scale", {"replicas": 1},
                key=USER_KEY)[0] == 403
    dev = host(server)
    assert dev["total_bytes"] == LIMIT
    assert dev["reserved_bytes"] + dev["free_bytes"] == LIMIT
    assert sorted(dev["replicas"]) == ["smol/0", "smol/1", "tiny-a/0", "tiny-b/0"]
    _, body = call(server, "GET", "/v1/admin/models")
    smol = next(m for m in body["data"] if m["name"] == "smol")
    assert smol["context_length"] == 1024
    assert "weights" in smol["replicas"][0]["cost"]
    assert sum(r["reserved_bytes_per_rank"] for m in body["data"]
               for r in m["replicas"]) == dev["reserved_bytes"]


def test_a_deploy_that_does_not_fit_is_refused_and_changes_nothing(server, paths):
    before, counts = host(server), replicas(server)
    status, body = call(server, "POST", "/v1/admin/models",
                        {"name": "huge", "path": paths[1], "memory": "100GiB"})
    assert status == 409, body
    assert body["error"]["code"] == "insufficient_memory"
    assert "huge" in body["error"]["message"]
    assert host(server)["reserved_bytes"] == before["reserved_bytes"]
    assert replicas(server) == counts
    _, models = call(server, "GET", "/v1/admin/models")
    assert "huge" in models["last_refused_change"]
    # A bad entry is refused naming the field.
    status, body = call(server, "POST", "/v1/admin/models",
                        {"name": "bad", "path": paths[1], "replicas": -2})
    assert status == 400 and "replicas" in body["error"]["message"], body


def test_max_places_what_the_arithmetic_says_and_remove_gives_it_back(server, paths):
    before = host(server)
    per_replica = before["free_bytes"] // 3 + 7 * MiB  # declared: above the computed cost
    status, body = call(server, "POST", "/v1/admin/models",
                        {"name": "packed", "path": paths[2], "replicas": "max",
                         "memory": str(per_replica), "threads": 1})
    assert status == 200, body
    expected = before["free_bytes"] // per_replica
    assert expected == 2
    assert len(body["plan"]["loads"]) == expected
    assert all(s["bytes_per_rank"] == per_replica for s in body["plan"]["loads"])
    assert replicas(server)["packed"] == expected
    assert host(server)["reserved_bytes"] == before["reserved_bytes"] + expected * per_replica
    done = client(server).completions.create(model="packed", prompt="a", max_tokens=2)
    assert done.usage.completion_tokens == 2
    status, body = call(server, "DELETE", "/v1/admin/models/packed")
    assert status == 200 and len(body["plan"]["unloads"]) == expected, body
    assert host(server)["reserved_bytes"] == before["reserved_bytes"]
    assert call(server, "DELETE", "/v1/admin/models/packed")[0] == 404


def test_a_scale_down_drains_its_streams_without_failing_them(server):
    """Two streams, one on each replica (seen in the admin view as each starts). A scale to one
    replica marks replica 1 draining and answers only after the stream on it has finished,
    whole."""
    c = client(server)
    results, started, ended = {}, [], {}

    def stream(i, max_tokens):
        s = c.chat.completions.create(
            model="smol", max_tokens=max_tokens, temperature=0, stream=True,
            stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
            messages=[{"role": "user", "content": f"Tell story number {i}."}])
        finish, usage = None, None
        for chunk in s:
            if chunk.choices and chunk.choices[0].delta.content and i not in started:
                started.append(i)
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
            if chunk.usage:
                usage = chunk.usage.completion_tokens
        ended[i] = time.time()
        results[i] = (finish, usage)

    def busy_replicas():
        status, body = call(server, "GET", "/v1/admin/models")
        smol = next(m for m in body["data"] if m["name"] == "smol")
        return {r["replica"]: r for r in smol["replicas"]}

    # The first stream takes one replica (least outstanding), the second the other.
    threads, on = [], {}
    for i in range(2):
        before = {k for k, r in busy_replicas().items() if r["outstanding"] > 0}
        t = threading.Thread(target=stream, args=(i, 300))
        t.start()
        threads.append(t)
        assert wait_for(lambda: len(started) > i), "the stream did not start"
        now = {k for k, r in busy_replicas().items() if r["outstanding"] > 0}
        (on[i],) = now - before
    assert sorted(on.values()) == [0, 1], on
    leaving = next(i for i in on if on[i] == 1)
    scale_answered = []

    def scale():
        scale_answered.append(call(server, "POST", "/v1/admin/models/smol/scale",
                                   {"replicas": 1}))
        scale_answered.append(time.time())

    scaler = threading.Thread(target=scale)
    scaler.start()
    assert wait_for(lambda: busy_replicas().get(1, {}).get("draining")), "never drained"
    assert scale_answered == [], "the scale-down answered while its replica had a stream"
    for t in threads + [scaler]:
        t.join(timeout=120)
    status, body = scale_answered[0]
    assert status == 200, body
    assert [s["replica"] for s in body["plan"]["unloads"]] == [1]
    # The scale-down answered only once the leaving replica's stream had finished, whole. Each
    # time is taken by its own client thread, after its read returned, so either may lag the
    # other by a few interpreter switch intervals (seen: the stream's end stamped 0.3 ms after
    # the answer the server sent once that stream had ended); an answer while the stream still
    # ran would precede its end by its remaining tokens' time.
    margin = 4 * sys.getswitchinterval()
    assert scale_answered[1] >= ended[leaving] - margin, (scale_answered[1], ended)
    assert results == {0: ("length", 300), 1: ("length", 300)}
    assert replicas(server)["smol"] == 1
    reply = c.chat.completions.create(model="smol", extra_body={"ignore_eos": True},
                                      messages=[{"role": "user", "content": "Hi"}])
    assert reply.usage.completion_tokens == 12


BAD_ENTRIES = """models:
  - name: a
    path: {a}
    colour: blue
  - name: b
    path: {a}
    memory: -5GiB
  - name: c
    path: /no/such/model.gguf
  - name: a
    path: {a}
"""


def test_a_bad_models_file_is_refused_whole_naming_each_entry(cli_tool, tiny_models, tmp_path):
    # Needs no SmolLM2: a tiny generated model is the good path.
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_ENTRIES.format(a=tiny_models["models"]["gguf_q8_0"]["path"]))
    r = subprocess.run([cli_tool, "serve", "--models", str(bad), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    for what in ("models[0] ('a'): unknown key", "models[1] ('b'): memory",
                 "models[2] ('c'): path", "models[3] ('a'): name: duplicate"):
        assert what in r.stderr, r.stderr


def test_the_file_reloads_on_change_and_a_bad_reload_changes_nothing(server, models_file,
                                                                     paths):
    counts = replicas(server)
    models_file.write_text("models:\n  - name: x\n    path: /no/such.gguf\n")
    assert wait_for(lambda: "/no/such.gguf" in
                    (call(server, "GET", "/v1/admin/models")[1]["last_refused_change"] or ""))
    assert replicas(server) == counts
    # SIGHUP rereads it: still refused, still nothing changed.
    server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any("SIGHUP: reload refused" in l for l in server.lines))
    assert replicas(server) == counts
    # A well-formed file that does not fit (40 replicas of smol in a 3 GiB limit) is refused
    # whole too: nothing is unloaded to make room, nothing is loaded.
    before = host(server)
    models_file.write_text(models_yaml(*paths).replace("replicas: 2", "replicas: 40"))
    def refusal():
        return call(server, "GET", "/v1/admin/models")[1]["last_refused_change"] or ""

    assert wait_for(lambda: "/no/such.gguf" not in refusal()), refusal()
    assert "'smol'" in refusal() and "does not fit" in refusal(), refusal()
    assert replicas(server) == counts
    assert host(server)["replicas"] == before["replicas"]
    # A good edit drops tiny-b and puts smol back at two replicas.
    models_file.write_text(models_yaml(*paths, with_b=False))
    assert wait_for(lambda: replicas(server) == {"smol": 2, "tiny-a": 1}, timeout=60)
    assert sorted(m.id for m in client(server).models.list().data) == ["smol", "tiny-a"]
    assert "tiny-b/0" not in host(server)["replicas"]


@pytest.mark.parametrize("flag,needle", [
    (["--queue-timeout", "5"], "scheduler.queue_timeout"),
    (["--max-queued-requests", "8"], "scheduler.max_waiting"),
    (["--cluster-encrypt"], "--cluster-encrypt"),
    (["--cluster-join-timeout", "30"], "--cluster-join-timeout"),
])
def test_single_model_flags_are_refused_with_a_model_set(cli_tool, tiny_models, tmp_path, flag,
                                                         needle):
    """Flags that only a single model (or one spread over ranks) reads are refused with --models,
    never accepted and ignored."""
    good = tmp_path / "models.yaml"
    good.write_text("models:\n  - name: a\n    path: "
                    + tiny_models["models"]["gguf_q8_0"]["path"] + "\n")
    r = subprocess.run([cli_tool, "serve", "--models", str(good), "--port", "0", *flag],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
