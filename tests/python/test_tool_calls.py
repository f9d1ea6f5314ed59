"""Tool calls against `infer-cli serve` with SmolLM2, read by the official `openai` client.

SmolLM2's chat template knows no tools: the server describes them in a system message and the
calls are constrained to the Hermes format, then returned as OpenAI `tool_calls` (whole and
streamed, assembled by the client's own stream state). A follow-up with the `tool` message
renders and answers.
"""

import json
import os
import sys

import jsonschema
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from served import request  # noqa: E402  pylint: disable=wrong-import-position

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "maxLength": 30},
                                  "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}},
                   "required": ["city"]}}}
TOOLS = [WEATHER, TIME]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
# Prompts after which SmolLM2 (greedy) chooses to call, for tool_choice auto; a 135M model's
# choice can move with the numerics of a CPU's kernels, so the first that calls is checked.
ASK_AUTO = [
    [{"role": "user", "content": "Use a tool: what time is it in Tokyo?"}],
    [{"role": "user", "content": "Use a tool: what is the weather in Rome?"}],
    [{"role": "system", "content": "You answer only by calling a tool."},
     {"role": "user", "content": "Call get_time for Oslo."}],
]


def _check_calls(calls, allowed):
    assert calls, "no tool calls"
    by_name = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_") and len(call.id) == 29
        assert call.function.name in allowed
        jsonschema.validate(json.loads(call.function.arguments), by_name[call.function.name])
    assert len({c.id for c in calls}) == len(calls)


def _both(client, **kwargs):
    """The answer whole, and streamed then assembled by the client's stream state."""
    whole = client.chat.completions.create(model="smollm2", temperature=0, max_tokens=150,
                                           **kwargs)
    state = ChatCompletionStreamState()
    for chunk in client.chat.completions.create(model="smollm2", temperature=0, max_tokens=150,
                                                stream=True, **kwargs):
        state.handle_chunk(chunk)
    return whole.choices[0], state.get_final_completion().choices[0]


@pytest.mark.parametrize("choice,allowed", [
    ("required", {"get_weather", "get_time"}),
    ({"type": "function", "function": {"name": "get_time"}}, {"get_time"}),
    ("auto", {"get_weather", "get_time"}),
], ids=["required", "named", "auto"])
def test_calls_whole_and_streamed(client, choice, allowed):
    for messages in ASK_AUTO if choice == "auto" else [ASK]:
        whole, streamed = _both(client, messages=messages, tools=TOOLS, tool_choice=choice)
        if whole.finish_reason == "tool_calls":
            break
    for c in (whole, streamed):
        assert c.finish_reason == "tool_calls", c
        _check_calls(c.message.tool_calls, allowed)
        if choice != "auto":
            assert c.message.content is None
    assert [(t.function.name, t.function.arguments) for t in whole.message.tool_calls] == \
        [(t.function.name, t.function.arguments) for t in streamed.message.tool_calls]
    assert whole.message.content == streamed.message.content
    if not isinstance(choice, str):
        assert len(whole.message.tool_calls) == 1


def test_parallel_tool_calls_false_makes_one_call(client):
    whole, streamed = _both(client, messages=ASK, tools=TOOLS, tool_choice="required",
                            parallel_tool_calls=False)
    assert len(whole.message.tool_calls) == 1 and len(streamed.message.tool_calls) == 1


def test_auto_may_answer_in_text_and_none_never_calls(client):
    text, _ = _both(client, messages=[{"role": "user", "content": "Say hello."}], tools=TOOLS,
                    tool_choice="auto")
    assert text.finish_reason == "stop" and text.message.tool_calls is None
    assert text.message.content
    none, _ = _both(client, messages=ASK_AUTO[0], tools=TOOLS, tool_choice="none")
    assert none.finish_reason in ("stop", "length") and none.message.tool_calls is None


def test_a_follow_up_with_the_tool_result_answers(client):
    first = client.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS,
                                           tool_choice={"type": "function",
                                                        "function": {"name": "get_weather"}},
                                           temperature=0, max_tokens=100).choices[0].message
    call = first.tool_calls[0]
    follow = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id,
         "content": json.dumps({"temperature": 21, "sky": "sunny"})}]
    # tool_choice none: the answer is text, whatever the model would choose on another CPU.
    answer = client.chat.completions.create(model="smollm2", messages=follow, tools=TOOLS,
                                            tool_choice="none", temperature=0,
                                            max_tokens=60).choices[0]
    assert answer.message.content, answer
    assert answer.finish_reason in ("stop", "length") and answer.message.tool_calls is None


def test_tool_requests_are_checked(server):
    cases = [
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]},
         "tools[0].function.name", "letters"),
        ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name", "two tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0]", "function"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice", "not in 'tools'"),
        ({"tool_choice": "required"}, "tool_choice", "needs 'tools'"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice", "sometimes"),
        ({"tools": TOOLS, "response_format": {"type": "json_object"}}, "tools", "give one"),
        ({"tools": [{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {"a": {"not": {}}}}}}]},
         "tools", "'not'"),
        ({"functions": [{"name": "f"}]}, "functions", "deprecated"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]}]},
         "messages[0].tool_calls[0]", "function"),
    ]
    for extra, param, words in cases:
        body = {"model": "smollm2", "messages": ASK}
        body.update(extra)
        status, _, data = request(server, "POST", "/v1/chat/completions", body=body)
        assert status == 400, (extra, data)
        err = json.loads(data)["error"]
        assert err["param"] == param and words in err["message"], (extra, err)
    status, _, data = request(server, "POST", "/v1/completions",
                              body={"model": "smollm2", "prompt": "x", "tools": TOOLS})
    assert status == 400 and json.loads(data)["error"]["param"] == "tools", data
