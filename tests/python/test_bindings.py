"""The Python bindings (bindings/python, `pip install ./bindings/python`) on SmolLM2.

Runs with the interpreter of the environment the package is installed in
(scripts/bindings_venv.sh; ctest's python_bindings test). References: `infer-cli generate --json`
for greedy tokens, jinja2 for the chat rendering, the package's own blocking calls for the
streaming and asyncio paths, /proc for resident memory.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

libinfer = pytest.importorskip("libinfer", reason="the libinfer package is not installed in "
                               "this interpreter (scripts/bindings_venv.sh)")

PROMPTS = [
    "<|im_start|>user\nWhat is the capital of France? Answer in one paragraph.<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "The old lighthouse stood at the edge",
    "def fibonacci(n):",
]
CHAT = [{"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def model(smollm2_path):
    with libinfer.Model.load(smollm2_path, threads=2, kv_cache_bytes=256 << 20) as m:
        yield m


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_greedy_tokens_equal_the_cli(model, cli_tool, smollm2_path):
    for prompt in PROMPTS:
        out = model.generate(prompt, max_tokens=32, temperature=0)
        cli = json.loads(subprocess.run(
            [cli_tool, "generate", "-m", smollm2_path, "-p", prompt, "-n", "32", "-t", "0",
             "--json", "--threads", "2"], capture_output=True, check=True, text=True).stdout)
        assert out.token_ids == cli["token_ids"], prompt
        assert out.text == cli["text"]
        assert out.usage.prompt_tokens == cli["prompt_tokens"]
        assert out.finish_reason == cli["finish_reason"]


def test_stream_equals_generate_and_batch_equals_sequential(model):
    for prompt in PROMPTS + [CHAT]:
        whole = model.generate(prompt, max_tokens=24, temperature=0)
        pieces = list(model.stream(prompt, max_tokens=24, temperature=0))
        assert "".join(pieces) == whole.text
        assert len(pieces) > 1
    batch = model.generate_batch(PROMPTS, max_tokens=16, temperature=0)
    assert [b.text for b in batch] == [model.generate(p, max_tokens=16, temperature=0).text
                                       for p in PROMPTS]


def test_sixteen_asyncio_streams_equal_sequential(model):
    prompts = [PROMPTS[i % len(PROMPTS)] + " " * (i // len(PROMPTS)) for i in range(16)]
    sequential = [model.generate(p, max_tokens=20, temperature=0).text for p in prompts]

    async def run():
        engine = libinfer.AsyncEngine(model)

        async def one(p):
            return "".join([piece async for piece in engine.stream(p, max_tokens=20,
                                                                     temperature=0)])
        streamed = await asyncio.gather(*(one(p) for p in prompts))
        awaited = await asyncio.gather(*(engine.generate(p, max_tokens=20, temperature=0)
                                         for p in prompts))
        return streamed, [a.text for a in awaited]

    streamed, awaited = asyncio.run(run())
    assert streamed == sequential
    assert awaited == sequential


def test_the_gil_is_released_while_generating(smollm2_path):
    """A Python thread counts while another generates: it keeps most of its solo rate (with the
    GIL held through the generation it would stop)."""
    with libinfer.Model.load(smollm2_path, threads=1, kv_cache_bytes=64 << 20) as m:
        m.generate("warm up", max_tokens=2)

        def counted_while(work):
            """How fast a Python thread counts while `work()` runs on this one."""
            done, counted = threading.Event(), {}

            def counter():
                n, start = 0, time.perf_counter()
                while not done.is_set():
                    n += 1
                counted["rate"] = n / (time.perf_counter() - start)

            t = threading.Thread(target=counter)
            t.start()
            result = work()
            done.set()
            t.join()
            return counted["rate"], result

        solo, _ = counted_while(lambda: time.sleep(1.0))
        rate, out = counted_while(lambda: m.generate("Once upon a time", max_tokens=128,
                                                     temperature=0, ignore_eos=True))
        assert out.usage.completion_tokens == 128
        share = rate / solo
        print(f"the counting thread ran at {share:.0%} of its solo rate during the generation")
        assert share > 0.3, share


def test_errors_raise_with_the_librarys_message(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        libinfer.Model.load(str(tmp_path / "missing.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises((ValueError, libinfer.Error), match="bad.gguf"):
        libinfer.Model.load(str(bad))
    with pytest.raises(ValueError, match="temperature"):
        model.generate("x", temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate("x", top_p=0)
    with pytest.raises(ValueError, match="tools\\[0\\].name"):
        model.generate(CHAT, tools=[{"type": "function", "function": {"name": "bad name"}}])
    with pytest.raises(ValueError, match="json_schema|schema"):
        model.generate("x", json_schema={"type": "object", "patternProperties": {"a": {}}})
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.generate("x", logprobs=3)
    with pytest.raises(TypeError):
        model.generate(42)


def test_device_and_kv_cache_dtype(smollm2_path):
    # No silent fallback: a device that is not there (no GPU here, or a name that is no device)
    # raises with the reason.
    with pytest.raises((ValueError, RuntimeError, libinfer.Error), match="device 'tpu'"):
        libinfer.Model.load(smollm2_path, device="tpu")
    if not os.path.exists("/dev/nvidia0"):
        with pytest.raises((ValueError, RuntimeError, libinfer.Error), match="cuda:0"):
            libinfer.Model.load(smollm2_path, device="cuda")
    with pytest.raises(ValueError, match="kv_cache_dtype"):
        libinfer.Model.load(smollm2_path, kv_cache_dtype="int4")
    # An F16 cache serves requests; its greedy text starts as the F32 cache's (the rounding of K
    # and V moves logits by far less than SmolLM2's usual margins on this prompt's first tokens).
    with libinfer.Model.load(smollm2_path, threads=2, kv_cache_dtype="float16") as half, \
            libinfer.Model.load(smollm2_path, threads=2) as full:
        assert half.info.device.startswith("cpu")
        a = half.generate(CHAT, max_tokens=8, temperature=0)
        b = full.generate(CHAT, max_tokens=8, temperature=0)
        assert a.text[:8] == b.text[:8], (a.text, b.text)


def test_chat_rendering_equals_jinja2(model):
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    want = env.from_string(model.chat_template).render(
        messages=CHAT, add_generation_prompt=True, bos_token="<|im_start|>",
        eos_token="<|im_end|>")
    assert model.render_chat(CHAT) == want
    out = model.generate(CHAT, max_tokens=16, temperature=0)
    assert out.usage.prompt_tokens == len(model.tokenizer.encode(want, add_bos=False))


def test_tools_structured_output_and_tokenizer(model):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"enum": ["Paris", "Tokyo"]}}, "required": ["city"]}}}]
    call = model.generate([{"role": "user", "content": "Weather in Paris?"}], tools=tools,
                          tool_choice="required", temperature=0, max_tokens=96)
    assert call.tool_calls and call.tool_calls[0].name == "get_weather"
    assert json.loads(call.tool_calls[0].arguments)["city"] in ("Paris", "Tokyo")
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"]}
    person = model.generate("A person as JSON:", json_schema=schema, temperature=0,
                            max_tokens=64)
    value = json.loads(person.text)
    assert set(value) == {"name", "age"} and isinstance(value["age"], int)
    pick = model.generate("Yes or no?", choices=["yes", "no"], temperature=0)
    assert pick.text in ("yes", "no")
    stopped = model.generate(PROMPTS[0], max_tokens=64, temperature=0, stop=["Paris"])
    assert "Paris" not in stopped.text and stopped.finish_reason == "stop"
    ids = model.tokenizer.encode("Hello, world!", add_bos=False)
    assert model.tokenizer.decode(ids) == "Hello, world!"
    assert model.info.architecture == "llama" and model.info.num_layers == 30
    assert model.info.file_type == "Q4_1"


def test_password_and_token_helpers(tmp_path):
    stored = libinfer.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert libinfer.verify_password(stored, "correct horse")
    assert not libinfer.verify_password(stored, "wrong")
    key = libinfer.generate_jwt_key()
    assert len(key) == 64
    users = tmp_path / "users.yaml"
    users.write_text(f"jwt_key: {key}\nusers:\n  - username: ada\n"
                     f"    password_hash: '{stored}'\n    role: admin\n")
    store = libinfer.AuthStore.from_file(str(users))
    token = store.login("ada", "correct horse")
    claims = store.verify(token)
    assert claims.subject == "ada" and claims.role == "admin"
    with pytest.raises(libinfer.Error, match="incorrect username or password"):
        store.login("ada", "wrong")


def test_memory_does_not_grow_over_a_thousand_calls(model):
    if os.environ.get("INFER_SANITIZED"):
        pytest.skip("sanitizer runtimes make resident memory meaningless")
    for _ in range(100):
        model.generate("Hello", max_tokens=2, temperature=0)
    before = rss_bytes()
    for i in range(1000):
        model.generate(f"Hello {i}", max_tokens=2, temperature=0)
    grown = rss_bytes() - before
    print(f"resident memory over 1,000 generate calls: {grown / 1e6:+.1f} MB")
    assert grown < 8 << 20, grown


def test_ctrl_c_cancels_a_generation(smollm2_path):
    script = textwrap.dedent(f"""
        import sys, time, libinfer
        m = libinfer.Model.load({smollm2_path!r}, threads=2, max_context=2048)
        print("loaded", flush=True)
        start = time.perf_counter()
        try:
            m.generate("Once upon a time", max_tokens=2000, ignore_eos=True)
            print("finished", flush=True)
        except KeyboardInterrupt:
            print(f"interrupted {{time.perf_counter() - start:.2f}}", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "loaded"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out.startswith("interrupted"), out
    assert float(out.split()[1]) < 5, out  # 2,000 tokens would take far longer


def test_type_stubs_ship_with_the_package():
    stub = os.path.join(os.path.dirname(libinfer.__file__), "__init__.pyi")
    assert os.path.isfile(stub)
    assert os.path.isfile(os.path.join(os.path.dirname(libinfer.__file__), "py.typed"))
    import ast
    tree = ast.parse(open(stub).read())
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert {"Model", "AsyncEngine", "Completion", "hash_password"} <= names
