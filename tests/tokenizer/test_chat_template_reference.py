"""Exactness of libinfer's chat templates against Python jinja2, configured as Hugging Face
transformers configures it for apply_chat_template.

Every real chat template in tests/data/chat_templates (SmolLM2, ChatML, Llama 3.1/3.2, Mistral
v0.3/v7, Qwen2.5, Qwen3, Phi-3.5, Gemma 2/3; SmolLM2's is also read from the GGUF when INFER_SMOLLM2_GGUF is set)
is rendered over a table of conversations, with and without the generation prompt, by jinja2
and by `infer_render_template`: the outputs must be byte-identical, and a conversation the
template rejects (raise_exception, a type error) must fail in both, with raise_exception's
message. A second table checks single language features (whitespace control, loops, filters,
tests, methods, Python value printing) the same way.

Environment: INFER_RENDER_TEMPLATE_TOOL (the infer_render_template binary, required),
INFER_SMOLLM2_GGUF (optional).
"""
import datetime
import json
import os
import pathlib
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES = HERE.parent / "data" / "chat_templates"
TOOL = os.environ.get("INFER_RENDER_TEMPLATE_TOOL")
GGUF = os.environ.get("INFER_SMOLLM2_GGUF")
# strftime_now's clock in both renderers: 2024-09-05 13:07:00 UTC.
NOW = 1725541620
ENV = dict(os.environ, TZ="UTC")


class TemplateRaised(Exception):
    """raise_exception() in the reference renderer."""


def hf_environment():
    """A jinja2 environment with Hugging Face's apply_chat_template settings: trim_blocks,
    lstrip_blocks, the immutable sandbox, loop controls, a `generation` tag that renders its
    body, a tojson that is plain json.dumps, and the raise_exception/strftime_now globals."""
    import jinja2  # pylint: disable=import-outside-toplevel
    from jinja2 import nodes  # pylint: disable=import-outside-toplevel
    from jinja2.ext import Extension, loopcontrols  # pylint: disable=import-outside-toplevel
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # pylint: disable=import-outside-toplevel

    class GenerationTag(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            call = self.call_method("_render_body", [])
            return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _render_body(self, caller):
            return caller()

    def raise_exception(message):
        raise TemplateRaised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    assert jinja2.__version__
    return env


ENVIRONMENT = None


def reference(template, context):
    """(ok, text, raised): the rendering, or the error's message and whether it came from
    raise_exception()."""
    global ENVIRONMENT  # pylint: disable=global-statement
    if ENVIRONMENT is None:
        ENVIRONMENT = hf_environment()
    try:
        return True, ENVIRONMENT.from_string(template).render(**context), False
    except TemplateRaised as e:
        return False, str(e), True
    except Exception as e:  # pylint: disable=broad-except
        return False, f"{type(e).__name__}: {e}", False


def ours(request):
    if not TOOL:
        pytest.fail("INFER_RENDER_TEMPLATE_TOOL is not set (run through ctest)")
    request = dict(request, now=NOW)
    proc = subprocess.run([TOOL], input=json.dumps(request).encode(), capture_output=True,
                          env=ENV, check=False)
    if proc.returncode == 0:
        return True, proc.stdout.decode("utf-8")
    err = proc.stderr.decode("utf-8")
    assert err.startswith(("PARSE ERROR: ", "RENDER ERROR: ")), err
    return False, err.split(": ", 1)[1].rstrip("\n")


def check(template, context, chat=False):
    """Renders with both; the same text, or an error in both (with raise_exception's message
    passed through verbatim)."""
    want_ok, want, raised = reference(template, context)
    request = {"template": template}
    if chat:
        request["chat"] = context
    else:
        request["context"] = context
    got_ok, got = ours(request)
    if want_ok:
        assert got_ok, f"jinja2 rendered {want!r}, libinfer failed: {got}"
        assert got == want
    else:
        assert not got_ok, f"jinja2 failed ({want}), libinfer rendered {got!r}"
        if raised:
            assert got == want


# ---- real templates over a table of conversations ----------------------------------------------

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}]

TOOL_CALL = {"role": "assistant", "content": "",
             "tool_calls": [{"id": "call12345", "type": "function",
                             "function": {"name": "get_weather",
                                          "arguments": {"city": "Paris", "unit": "celsius"}}}]}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
               "content": "{\"temperature\": 21, \"condition\": \"sunny\"}"}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_user": [{"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [{"role": "system", "content": "  Be helpful.  "},
                   {"role": "user", "content": "Hi there"},
                   {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Tell me a joke.\n"}],
    "user_assistant": [{"role": "user", "content": "Ping"},
                       {"role": "assistant", "content": " Pong "}],
    "unicode": [{"role": "user", "content": "Héllo — 你好 🌍 \"quotes\" 'single' <tag> & \\ \t"},
                {"role": "assistant", "content": "Ça va? Ελληνικά · Кириллица"},
                {"role": "user", "content": "ß\u00a0x\u2028y"}],
    "empty_content": [{"role": "user", "content": ""}],
    "content_parts": [{"role": "user", "content": [{"type": "text", "text": "Describe "},
                                                   {"type": "text", "text": " this."}]}],
    "tool_use": [{"role": "user", "content": "Weather in Paris?"}, TOOL_CALL, TOOL_RESULT,
                 {"role": "assistant", "content": "It is 21°C and sunny."}],
    "two_users": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    "assistant_first": [{"role": "assistant", "content": "I start."},
                        {"role": "user", "content": "ok"}],
    "system_only": [{"role": "system", "content": "Only a system prompt."}],
    "unknown_role": [{"role": "narrator", "content": "Once upon a time"}],
    "no_messages": [],
}

# (conversation, with tools)
CASES = [(name, False) for name in CONVERSATIONS] + [("user", True), ("tool_use", True),
                                                     ("system_user", True)]

TOKENS = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "chatml": ("", "<|im_end|>"),
    "llama3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistral-v0.3": ("<s>", "</s>"),
    "mistral-v7": ("<s>", "</s>"),
    "qwen2.5": ("", "<|im_end|>"),
    "gemma2": ("<bos>", "<eos>"),
    "gemma3": ("<bos>", "<eos>"),
    "qwen3": ("", "<|im_end|>"),
    "phi3.5": ("<s>", "<|endoftext|>"),
}


def template_names():
    return sorted(p.stem for p in TEMPLATES.glob("*.jinja"))


def test_all_templates_present():
    assert set(template_names()) == set(TOKENS)


@pytest.mark.parametrize("name", template_names())
@pytest.mark.parametrize("conversation,with_tools", CASES)
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_template_matches_jinja2(name, conversation, with_tools, add_generation_prompt):
    template = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    bos, eos = TOKENS[name]
    context = {"messages": CONVERSATIONS[conversation], "tools": TOOLS if with_tools else None,
               "documents": None, "add_generation_prompt": add_generation_prompt,
               "bos_token": bos, "eos_token": eos}
    check(template, context, chat=True)


def test_templates_that_raise_do_raise():
    """The table exercises raise_exception: Gemma rejects non-alternating roles."""
    template = (TEMPLATES / "gemma2.jinja").read_text(encoding="utf-8")
    context = {"messages": CONVERSATIONS["two_users"], "tools": None, "documents": None,
               "add_generation_prompt": False, "bos_token": "<bos>", "eos_token": "<eos>"}
    ok, message = ours({"template": template, "chat": context})
    assert not ok
    assert message == "Conversation roles must alternate user/assistant/user/assistant/..."


def test_smollm2_gguf_template_matches_committed_copy():
    if not GGUF or not os.path.exists(GGUF):
        pytest.skip("INFER_SMOLLM2_GGUF is not set or missing")
    import gguf  # pylint: disable=import-outside-toplevel
    reader = gguf.GGUFReader(GGUF)
    field = reader.fields["tokenizer.chat_template"]
    from_gguf = bytes(field.parts[field.data[0]]).decode("utf-8")
    assert from_gguf == (TEMPLATES / "smollm2.jinja").read_text(encoding="utf-8")
    for conversation in ("user", "multi_turn", "unicode"):
        check(from_gguf, {"messages": CONVERSATIONS[conversation], "add_generation_prompt": True,
                          "bos_token": "<|im_start|>", "eos_token": "<|im_end|>"})


# ---- language features ---------------------------------------------------------------------------

DATA = {"messages": CONVERSATIONS["multi_turn"], "tools": TOOLS, "n": 7, "f": 2.5, "s": " Hi ",
        "d": {"b": 1, "a": [1, 2.0, None, True, "x"]}, "empty": [], "none": None}

FEATURES = [
    # whitespace control, trim_blocks / lstrip_blocks, comments, raw
    "a  {%- if true %} b {% endif -%}  c",
    "  {% if true %}\n  x\n  {% endif %}\n  y  {# c #}\nz",
    "{%+ if true %}\n kept{% endif +%}\nnext",
    "line\n    {# comment #}\n  {{- ' v ' -}}  \nend\n",
    "{% raw %}{{ not rendered }} {% if %}{% endraw %}",
    "x\r\ny\rz\n",
    "{{ '{{' }} {{ \"}}\" }} {{ {'a': {'b': 1}} }}",
    # literals and printing
    "{{ [1, 'a', none, true, 1.5, (1,), (), {'k': \"it's\"}, 1e20, 1e16, 1e15, 0.0001, 1e-5] }}",
    "{{ d }} {{ d.a }} {{ none }} {{ True }} {{ 10/3 }} {{ -0.0 }} {{ 3.0 }} {{ 'a\\nb\\t\\x41\\u00e9' }}",
    "{{ ['a\\nb', 'é', '\\x01', \"'\", '\"', 'x\\\\y'] }}",
    "{{ 'adjacent' ' strings' }} {{ 0x1f }} {{ 1_000 }} {{ 2.5e-3 }}",
    # arithmetic and comparison
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 % 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7 / 2 }}",
    "{{ 1 + 2 * 3 - 4 }} {{ 'a' ~ 1 ~ none }} {{ [1] + [2] }} {{ 'ab' * 3 }} {{ -n }} {{ +f }}",
    "{{ 1 == 1.0 }} {{ true == 1 }} {{ 1 < 2 < 3 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}",
    "{{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'a' in d }} {{ not none }} {{ n and s }} {{ 0 or 'x' }}",
    "{{ 'yes' if n > 3 else 'no' }} {{ 'x' if false }}|",
    # variables, attributes, subscripts, slices
    "{{ messages[0].role }} {{ messages[-1]['content'] }} {{ d.missing }}|{{ d['b'] }} {{ d.a.0 }}",
    "{{ s[::-1] }} {{ s[1:] }} {{ s[:-1] }} {{ d.a[1:3] }} {{ d.a[::2] }} {{ 'héllo'[1] }} {{ 'héllo'[-2:] }}",
    "{{ undefined_thing }}|{{ undefined_thing is defined }} {{ d.x is defined }} {{ messages.0.content }}",
    # statements
    "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
    "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.cycle('a', 'b') }};{% endfor %}",
    "{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.role }} {% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
    "{% for x in empty %}never{% else %}empty{% endfor %} {% for c in 'ab' %}{{ c }}{% endfor %}",
    "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}"
    "{% endif %}{{ i }}{% endfor %}",
    "{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = i + 10 %}{{ x }},{% endfor %}{{ x }}",
    "{% set ns = namespace(count=0, seen=false) %}{% for m in messages %}{% set ns.count = ns.count"
    " + 1 %}{% if m.role == 'user' %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.count }}"
    " {{ ns.seen }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (1, 'x') %}{{ t }} {% set block %}  in {{ n }}"
    " {% endset %}[{{ block }}]",
    "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }}"
    " {{ greet('B', punct='?') }} {{ greet(name='C') }}",
    "{% if n > 10 %}big{% elif n > 5 %}medium{% else %}small{% endif %}",
    "{% with a = 1, b = n %}{{ a + b }}{% endwith %}{{ a }}|",
    "{% filter upper %}shout {{ s }}{% endfilter %}",
    "{% generation %}assistant text{% endgeneration %}",
    # filters
    "{{ s|trim }}|{{ s|length }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world-x'|title }}"
    "|{{ 'hELLO'|capitalize }}|{{ s|replace('H', 'J') }}|{{ none|default('dflt') }}"
    "|{{ undefined_thing|d('u') }}|{{ ''|default('e', true) }}",
    "{{ d|tojson }} {{ d|tojson(indent=2) }} {{ 'é<>&\\''|tojson }} {{ messages[0]|tojson }}",
    "{{ tools|tojson(indent=4) }}",
    "{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }}"
    " {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|reverse|list }} {{ 'abc'|reverse }} {{ 'ab'|list }}",
    "{{ [1, 2, 3]|join(', ') }} {{ messages|map(attribute='role')|join('/') }} {{ [1.5, -2]|map('abs')|list }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} "
    "{{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }} "
    "{{ [0, 1, 2, none]|select|list }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3]|reject('even')|list }}",
    "{{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ '3.5'|float }} {{ 3|float }} {{ -3|abs }}"
    " {{ 2.5|round }} {{ 3.14159|round(2) }} {{ 5|round }} {{ 2.7|round(0, 'floor') }}",
    "{{ d|items|list }} {{ [1, 2, 2, 'a', 'A']|unique|list }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }}"
    " {{ [1, 2, 3]|sum }} {{ 'one two  three'|wordcount }} {{ 5|string ~ 'x' }} {{ [1, 2]|count }}",
    "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ '<b>&'|e }}|{{ 'x'|safe }}",
    "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ {'b': 1, 'a': 2}|dictsort }}",
    # tests
    "{{ n is number }} {{ n is integer }} {{ f is float }} {{ s is string }} {{ d is mapping }}"
    " {{ empty is iterable }} {{ s is sequence }} {{ none is none }} {{ true is true }}"
    " {{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ n is not none }}"
    " {{ 'x' is in 'xyz' }} {{ n is gt 3 }} {{ 'ab' is lower }} {{ none is sameas none }}",
    # methods
    "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}"
    "|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}",
    "{{ s.startswith(' H') }} {{ s.endswith(('x', 'i ')) }} {{ s.upper() }} {{ 'ab cd'.title() }}"
    " {{ 'abc'.replace('b', 'B') }} {{ 'abcb'.find('b') }} {{ 'abcb'.rfind('b') }} {{ 'abcb'.count('b') }}"
    " {{ '-'.join(['x', 'y']) }} {{ '{} and {name}'.format(1, name='two') }} {{ 'éa'.capitalize() }}",
    "{{ d.get('b') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d.keys()|list }} {{ d.values()|list|length }}",
    "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b='x') }}",
    "{{ strftime_now('%Y-%m-%d %H:%M') }}",
]

ERRORS = [
    "{{ raise_exception('custom failure: ' ~ n) }}",
    "{{ undefined_thing.attr }}",
    "{{ undefined_thing + 1 }}",
    "{{ undefined_thing() }}",
    "{{ 1 + 'a' }}",
    "{{ 1 / 0 }}",
    "{{ 1 < 'a' }}",
    "{{ [1].append(2) }}",
    "{{ none|tojson }}{{ undefined_thing|tojson }}",
    "{{ range(200000)|length }}",
    "{% for a, b in [1, 2] %}{% endfor %}",
    "{{ 5() }}",
    "{{ s.nonexistent_method() }}",
    "{% if %}{% endif %}",
    "{{ x|no_such_filter }}",
    "{{ x is no_such_test }}",
    "{% for x in y %}",
    "{% unknowntag %}",
    "{{ (1 }}",
    "{{ 'unterminated }}",
]


@pytest.mark.parametrize("template", FEATURES)
def test_feature_matches_jinja2(template):
    check(template, DATA)


@pytest.mark.parametrize("template", ERRORS)
def test_error_in_both(template):
    check(template, DATA)


@pytest.mark.parametrize("trim_blocks,lstrip_blocks", [(False, False), (True, False),
                                                       (False, True)])
def test_whitespace_options_match_jinja2(trim_blocks, lstrip_blocks):
    import jinja2  # pylint: disable=import-outside-toplevel
    template = (TEMPLATES / "llama3.1.jinja").read_text(encoding="utf-8") + \
        "\n  {% if true %}\n    x {# c #}\n  {% endif %}\n"
    context = {"messages": CONVERSATIONS["multi_turn"], "add_generation_prompt": True,
               "bos_token": "<s>", "tools": None}
    env = jinja2.Environment(trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks)
    want = env.from_string(template).render(**context)
    ok, got = ours({"template": template, "context": context, "trim_blocks": trim_blocks,
                    "lstrip_blocks": lstrip_blocks})
    assert ok, got
    assert got == want


# ---- the library's chat API (Model::RenderChat: chat::RenderMessages) ----------------------------
#
# The API takes messages and tools as structs (string content; a call's arguments as JSON text)
# and renders them as the server does: a template that renders `tools` gets them, and each earlier
# call's arguments as an object; for one that does not, active tools are described in a system
# message and calls and results are written as text in the Hermes format. The reference below
# builds that conversation independently and renders it with jinja2.

TOOLS_SYSTEM_TEXT = (
    "# Tools\n\nYou can call the functions described below to help with the answer. Their "
    "signatures, as JSON, are inside <tools></tools>:\n<tools>{tools}\n</tools>\n\nTo call a "
    "function, answer with its name and a JSON object of its arguments inside "
    "<tool_call></tool_call> tags:\n<tool_call>\n{{\"name\": <function name>, \"arguments\": "
    "<arguments object>}}\n</tool_call>")

API_CONVERSATIONS = [name for name, messages in CONVERSATIONS.items()
                     if all(isinstance(m.get("content"), str) for m in messages)]


def api_messages(messages):
    """The conversation as the API's structs carry it (tool_calls flattened, arguments as text)."""
    out = []
    for m in messages:
        a = {"role": m["role"], "content": m["content"]}
        if "tool_calls" in m:
            a["tool_calls"] = [{"id": c["id"], "name": c["function"]["name"],
                                "arguments": json.dumps(c["function"]["arguments"])}
                               for c in m["tool_calls"]]
        for key in ("tool_call_id", "name"):
            if key in m:
                a[key] = m[key]
        out.append(a)
    return out


def api_reference_messages(messages, tools, knows_tools):
    """What the template should see: OpenAI-shaped messages, or the Hermes text form."""
    def openai(m):
        o = {"role": m["role"], "content": m["content"]}
        if "tool_calls" in m:
            o["tool_calls"] = [{"id": c["id"], "type": "function",
                                "function": {"name": c["name"],
                                             "arguments": json.loads(c["arguments"])}}
                               for c in m["tool_calls"]]
        for key in ("tool_call_id", "name"):
            if key in m:
                o[key] = m[key]
        return o
    if knows_tools:
        return [openai(m) for m in messages]
    out = []
    rest = messages
    if tools:
        described = TOOLS_SYSTEM_TEXT.format(
            tools="".join("\n" + json.dumps(t, ensure_ascii=False, separators=(",", ":"))
                          for t in tools))
        if messages and messages[0]["role"] == "system":
            out.append({"role": "system", "content": messages[0]["content"] + "\n\n" + described})
            rest = messages[1:]
        else:
            out.append({"role": "system", "content": described})
    for m in rest:
        if m["role"] == "assistant" and m.get("tool_calls"):
            text = m["content"]
            for c in m["tool_calls"]:
                block = ("<tool_call>\n{\"name\": " + json.dumps(c["name"], ensure_ascii=False)
                         + ", \"arguments\": "
                         + json.dumps(json.loads(c["arguments"]), ensure_ascii=False,
                                      separators=(",", ":")) + "}\n</tool_call>")
                text += ("\n" if text else "") + block
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            out.append({"role": "user",
                        "content": "<tool_response>\n" + m["content"] + "\n</tool_response>"})
        else:
            out.append(openai(m))
    return out


@pytest.mark.parametrize("name", template_names())
@pytest.mark.parametrize("conversation", API_CONVERSATIONS)
@pytest.mark.parametrize("with_tools", [False, True])
def test_chat_api_matches_jinja2(name, conversation, with_tools):
    template = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    bos, eos = TOKENS[name]
    knows_tools = "tools" in template
    messages = api_messages(CONVERSATIONS[conversation])
    api_tools = [{"name": t["function"]["name"], "description": t["function"]["description"],
                  "parameters": t["function"]["parameters"]} for t in TOOLS] if with_tools else []
    context = {"messages": api_reference_messages(messages, TOOLS if with_tools else None,
                                                  knows_tools),
               "tools": TOOLS if (with_tools and knows_tools) else None, "documents": None,
               "add_generation_prompt": True, "bos_token": bos, "eos_token": eos}
    want_ok, want, _ = reference(template, context)
    got_ok, got = ours({"template": template,
                        "api": {"messages": messages, "tools": api_tools,
                                "add_generation_prompt": True, "bos_token": bos,
                                "eos_token": eos}})
    assert got_ok == want_ok, (want, got)
    if want_ok:
        assert got == want


def test_chat_api_template_variables_and_refusals():
    template = "{{ greeting }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
    ok, text = ours({"template": template,
                     "api": {"messages": [{"role": "user", "content": "hi"}],
                             "template_variables": {"greeting": "Hello "}}})
    assert ok and text == "Hello [user:hi]"
    ok, err = ours({"template": template,
                    "api": {"messages": [{"role": "user", "content": "x"}],
                            "tools": [{"name": "bad name", "parameters": {}}]}})
    assert not ok and "tools[0].name" in err
    ok, err = ours({"template": template, "api": {"messages": [{"role": "", "content": "x"}]}})
    assert not ok and "messages[0].role" in err
