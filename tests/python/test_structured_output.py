"""Structured output against `infer-cli serve` with SmolLM2, checked by independent readers.

- The official `openai` client's `beta.chat.completions.parse(response_format=PydanticModel)`
  returns a parsed instance for eleven models (nested objects, arrays, enums, optional fields,
  bounded numbers, dates, patterns).
- A corpus of JSON Schemas (grammar_corpus.py, over 100) sampled at temperature 1 with random
  seeds: every output validates with the `jsonschema` package (formats checked); a recursive
  schema's output may run to max_tokens (the sampler picks the depth) and must then validate
  once its unfinished innermost node is dropped and the rest closed; regexes are checked with
  Python's `re`, choices by membership.
- Schemas beyond the supported subset get a 400 that names the keyword.
"""

import datetime
import enum
import json
import os
import random
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import List, Literal, Optional

import jsonschema
import pydantic
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grammar_corpus  # noqa: E402  pylint: disable=wrong-import-position
from served import request  # noqa: E402  pylint: disable=wrong-import-position


# ---- Pydantic models through the client's parse() ------------------------------------------


class Colour(str, enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0, le=120)


class Address(pydantic.BaseModel):
    street: str
    city: str
    zip_code: str = pydantic.Field(pattern=r"^\d{5}$")


class Employee(pydantic.BaseModel):
    person: Person
    address: Address
    manager: Optional[str]


class Inventory(pydantic.BaseModel):
    items: List[str] = pydantic.Field(min_length=1, max_length=4)
    counts: List[int]


class Paint(pydantic.BaseModel):
    colour: Colour
    finish: Literal["matte", "gloss"]


class Reading(pydantic.BaseModel):
    celsius: float = pydantic.Field(ge=-50, le=60)
    ok: bool


class Meeting(pydantic.BaseModel):
    title: str
    day: datetime.date
    starts: datetime.datetime


class Family(pydantic.BaseModel):
    surname: str = pydantic.Field(max_length=20)
    members: List[Person] = pydantic.Field(min_length=1, max_length=3)


class Review(pydantic.BaseModel):
    stars: int = pydantic.Field(ge=1, le=5)
    summary: Optional[str]
    tags: List[Literal["fast", "cheap", "good"]] = pydantic.Field(max_length=3)


class Order(pydantic.BaseModel):
    id: int = pydantic.Field(gt=0)
    lines: List[Paint] = pydantic.Field(max_length=3)
    note: Optional[Colour]


class Contact(pydantic.BaseModel):
    email: str = pydantic.Field(pattern=r"^[a-z]+@[a-z]+\.com$")
    phone: Optional[str] = pydantic.Field(pattern=r"^\+?[0-9]{6,12}$")


class Point(pydantic.BaseModel):
    x: float
    y: float
    label: Optional[str] = pydantic.Field(max_length=12)


PARSE_MODELS = [
    (Person, "Invent a person."),
    (Employee, "Describe an employee with an address."),
    (Inventory, "List a few things in a kitchen and how many there are."),
    (Paint, "Pick a paint."),
    (Reading, "Give a temperature reading."),
    (Meeting, "Plan a meeting."),
    (Family, "Describe a small family."),
    (Review, "Review a restaurant."),
    (Order, "Place an order for paint."),
    (Contact, "Give contact details."),
    (Point, "Give a point on a map."),
    (Person, "Invent a sailor."),
]


@pytest.mark.parametrize("model,prompt", PARSE_MODELS,
                         ids=[f"{m.__name__}-{i}" for i, (m, _) in enumerate(PARSE_MODELS)])
def test_the_clients_parse_returns_an_instance(client, model, prompt):
    done = client.beta.chat.completions.parse(
        model="smollm2", messages=[{"role": "user", "content": prompt}], response_format=model,
        temperature=0, max_tokens=600)
    choice = done.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    assert isinstance(choice.message.parsed, model), choice.message.content
    # The text is the instance: the same JSON the client parsed.
    assert model.model_validate_json(choice.message.content) == choice.message.parsed


def test_members_follow_the_schemas_order(client):
    done = client.beta.chat.completions.parse(
        model="smollm2", messages=[{"role": "user", "content": "Invent a person."}],
        response_format=Person, temperature=0, max_tokens=100)
    assert list(json.loads(done.choices[0].message.content)) == ["name", "age"]


# ---- The corpus at temperature 1 --------------------------------------------------------------


def _complete(server, body):
    status, _, data = request(server, "POST", "/v1/chat/completions", body=body)
    assert status == 200, data
    return json.loads(data)["choices"][0]


def _run_all(server, bodies):
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda b: _complete(server, b), bodies))


def _closed(prefix):
    """`prefix` (a cut JSON text) with its open string and containers closed, or None."""
    stack = []
    in_string = escaped = False
    for ch in prefix:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack:
                return None
            stack.pop()
    if escaped:
        return None
    return prefix + ('"' if in_string else "") + "".join(reversed(stack))


def _valid_when_closed(text, schema, checker, tail=48):
    """Whether `text`, cut by max_tokens, is a valid document once its last `tail` characters
    at most are dropped and what is open is closed (the unfinished innermost value goes)."""
    for cut in range(len(text), max(0, len(text) - tail) - 1, -1):
        closed = _closed(text[:cut])
        if closed is None:
            continue
        try:
            jsonschema.validate(json.loads(closed), schema, format_checker=checker)
            return True
        except (ValueError, jsonschema.ValidationError):
            continue
    return False


def test_every_corpus_schema_output_validates(server):
    schemas = grammar_corpus.schemas()
    assert len(schemas) >= 100
    if os.environ.get("INFER_SANITIZED"):
        # Under the sanitizers (several times slower) a quarter of the corpus checks memory
        # safety; the whole corpus runs in the plain build.
        schemas = schemas[::4]
    rng = random.Random(1234)
    bodies = []
    for name, schema in schemas:
        bodies.append({
            "model": "smollm2",
            "messages": [{"role": "user", "content": f"Reply with JSON for: {name}."}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "x", "schema": schema, "strict": True}},
            "temperature": 1.0, "seed": rng.randrange(1 << 30), "max_tokens": 800})
    results = _run_all(server, bodies)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    failures = []
    for (name, schema), choice in zip(schemas, results):
        text = choice["message"]["content"]
        if choice["finish_reason"] == "length" and name.startswith("recursive"):
            # A recursive schema leaves the depth to the sampler: a run to max_tokens is the
            # model's choice, not a grammar defect (any change of the logits moves where a
            # sampled run ends). What was written must still be a valid document up to its
            # unfinished innermost node.
            if not _valid_when_closed(text, schema, checker):
                failures.append(f"{name}: cut at max_tokens, not a valid prefix: {text[-300:]}")
            continue
        if choice["finish_reason"] != "stop":
            failures.append(f"{name}: finish_reason {choice['finish_reason']}: {text[:200]}")
            continue
        try:
            jsonschema.validate(json.loads(text), schema, format_checker=checker)
        except (ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{name}: {e}: {text[:300]}")
    assert not failures, "\n".join(failures)


def test_every_regex_and_choice_output_matches(server):
    rng = random.Random(99)
    bodies, checks = [], []
    for pattern in grammar_corpus.REGEXES:
        bodies.append({"model": "smollm2", "messages": [{"role": "user", "content": "Answer."}],
                       "guided_regex": pattern, "temperature": 1.0,
                       "seed": rng.randrange(1 << 30), "max_tokens": 300})
        checks.append(("regex", pattern))
    for choices in grammar_corpus.CHOICES:
        bodies.append({"model": "smollm2", "messages": [{"role": "user", "content": "Pick one."}],
                       "guided_choice": choices, "temperature": 1.0,
                       "seed": rng.randrange(1 << 30)})
        checks.append(("choice", choices))
    failures = []
    for (kind, spec), choice in zip(checks, _run_all(server, bodies)):
        text = choice["message"]["content"]
        ok = re.fullmatch(spec, text) is not None if kind == "regex" else text in spec
        if choice["finish_reason"] != "stop" or not ok:
            failures.append(f"{kind} {spec!r}: {choice['finish_reason']}: {text!r}")
    assert not failures, "\n".join(failures)


def test_json_object_and_the_completions_route(server):
    # Free JSON has no bound a grammar could give: at temperature 1 SmolLM2 sometimes runs past
    # the limit (then the text is cut). Every sample that ends is a JSON object, and most end.
    ended = 0
    for seed in range(4):
        choice = _complete(server, {
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Describe a cat in JSON."}],
            "response_format": {"type": "json_object"}, "temperature": 1.0, "seed": seed,
            "max_tokens": 800})
        if choice["finish_reason"] == "stop":
            assert isinstance(json.loads(choice["message"]["content"]), dict)
            ended += 1
    assert ended >= 1
    status, _, data = request(server, "POST", "/v1/completions", body={
        "model": "smollm2", "prompt": "The answer is", "guided_choice": ["yes", "no"],
        "max_tokens": 5})
    assert status == 200, data
    assert json.loads(data)["choices"][0]["text"] in ("yes", "no")


def test_streamed_structured_output_equals_the_whole(client):
    kwargs = dict(model="smollm2", messages=[{"role": "user", "content": "Invent a person."}],
                  temperature=0, max_tokens=200,
                  response_format={"type": "json_schema", "json_schema": {
                      "name": "p", "schema": Person.model_json_schema()}})
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    parts = [c.choices[0].delta.content or "" for c in
             client.chat.completions.create(stream=True, **kwargs) if c.choices]
    assert "".join(parts) == whole
    Person.model_validate_json(whole)


# ---- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("schema,keyword", grammar_corpus.UNSUPPORTED,
                         ids=[k for _, k in grammar_corpus.UNSUPPORTED])
def test_unsupported_schemas_get_a_400_naming_the_keyword(server, schema, keyword):
    status, _, data = request(server, "POST", "/v1/chat/completions", body={
        "model": "smollm2", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x",
                                                                     "schema": schema}}})
    assert status == 400, data
    err = json.loads(data)["error"]
    assert keyword in err["message"], err
    assert err["param"] == "response_format.json_schema.schema"


def test_bad_regexes_and_conflicting_fields_are_refused(server):
    for body, param, words in [
        ({"guided_regex": "(a"}, "guided_regex", "')'"),
        ({"guided_regex": "a(?=b)"}, "guided_regex", "lookaround"),
        ({"guided_choice": []}, "guided_choice", "non-empty"),
        ({"guided_choice": ["a"], "guided_regex": "a"}, "guided_choice", "give one"),
        ({"guided_grammar": "root ::= \"a\""}, "guided_grammar", "not supported"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema", "needs"),
        ({"response_format": {"type": "xml"}}, "response_format.type", "xml"),
        ({"logit_bias": {"abc": 1}}, "logit_bias", "token ids"),
        ({"logit_bias": {"5": 300}}, "logit_bias", "[-100, 100]"),
    ]:
        body.update({"model": "smollm2", "messages": [{"role": "user", "content": "x"}]})
        status, _, data = request(server, "POST", "/v1/chat/completions", body=body)
        assert status == 400, (body, data)
        err = json.loads(data)["error"]
        assert err["param"] == param and words in err["message"], (body, err)


def test_logit_bias_bans_and_forces_tokens(server, client, smollm2_path):
    import gguf_bpe_tokenizer  # pylint: disable=import-outside-toplevel
    tok = gguf_bpe_tokenizer.load_from_gguf(smollm2_path)
    base = dict(model="smollm2", prompt="The capital of France is", temperature=0)
    greedy = client.completions.create(max_tokens=1, **base).choices[0].text
    ids = gguf_bpe_tokenizer.encode(tok, greedy)
    assert len(ids) == 1, (greedy, ids)
    banned = client.completions.create(max_tokens=1, logit_bias={str(ids[0]): -100}, **base)
    assert banned.choices[0].text != greedy
    [banana] = gguf_bpe_tokenizer.encode(tok, " banana")
    forced = client.completions.create(max_tokens=3, logit_bias={str(banana): 100}, **base)
    assert forced.choices[0].text == " banana" * 3
    status, _, data = request(server, "POST", "/v1/completions", body={
        "model": "smollm2", "prompt": "x", "max_tokens": 1, "logit_bias": {"999999": 1}})
    assert status == 400 and b"logit_bias" in data, data
