"""libinfer for Python: load a GGUF file or a Hugging Face folder and generate.

    import libinfer
    model = libinfer.Model.load("SmolLM2-135M-Instruct.Q4_1.gguf", threads=2)
    out = model.generate("The capital of France is", max_tokens=16, temperature=0)
    print(out.text, out.usage.completion_tokens)
    for piece in model.stream([{"role": "user", "content": "Hi!"}], max_tokens=64):
        print(piece, end="", flush=True)

    engine = libinfer.AsyncEngine(model)          # asyncio, over the same Scheduler
    out = await engine.generate("Hello", max_tokens=8)
    async for piece in engine.stream("Hello", max_tokens=8): ...

A prompt is a str (tokenized with the model's rules), a list of token ids, or a list of chat
messages (dicts in OpenAI's shape: role, content, tool_calls, tool_call_id, name), rendered with
the model's own chat template as the server renders /v1/chat/completions. Every request runs on
the model's Scheduler (continuous batching): concurrent calls from threads or tasks share the
forward passes. The GIL is released while the library works; Ctrl-C cancels a blocking call.
Errors raise ValueError (a bad argument, with the library's message naming it),
FileNotFoundError, or libinfer.Error.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import weakref
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator, Sequence

from libinfer import _core

Error = _core.Error
ModelInfo = _core.ModelInfo
ToolCall = _core.ToolCall
Tokenizer = _core.Tokenizer
AuthStore = _core.AuthStore
Claims = _core.Claims
hash_password = _core.hash_password
verify_password = _core.verify_password
generate_jwt_key = _core.generate_jwt_key

__all__ = ["Model", "AsyncEngine", "Completion", "Usage", "Error", "ModelInfo", "ToolCall",
           "Tokenizer", "AuthStore", "Claims", "hash_password", "verify_password",
           "generate_jwt_key"]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """One finished generation. For a chat with tools, `text` is the content before the calls."""
    text: str
    finish_reason: str  # "stop", "length", "abort" or "error"
    usage: Usage
    token_ids: list[int] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    time_to_first_token: float = 0.0


def _completion(result: Any) -> Completion:
    if result.finish_reason == "error":
        raise Error(result.error or "the generation failed")
    return Completion(
        text=result.text, finish_reason=result.finish_reason,
        usage=Usage(result.prompt_tokens, result.completion_tokens, result.cached_prompt_tokens),
        token_ids=list(result.token_ids), tool_calls=list(result.tool_calls),
        time_to_first_token=result.time_to_first_token)


def _options(*, max_tokens: int = 256, temperature: float = 1.0, top_p: float = 1.0,
             top_k: int = 0, min_p: float = 0.0, repetition_penalty: float = 1.0,
             presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
             seed: int | None = None, stop: str | Sequence[str] | None = None,
             stop_token_ids: Sequence[int] | None = None, ignore_eos: bool = False,
             logit_bias: dict[int, float] | None = None,
             json_schema: dict | str | None = None, regex: str | None = None,
             choices: Sequence[str] | None = None, tools: Sequence[dict] | None = None,
             tool_choice: str | dict = "auto", parallel_tool_calls: bool = True,
             template_variables: dict | None = None) -> dict:
    """The request options of every generating call, checked by the library (a bad value raises
    ValueError naming it). tools / tool_choice / template_variables apply to chat prompts."""
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(json_schema, dict):
        json_schema = json.dumps(json_schema)
    if isinstance(tool_choice, dict):  # OpenAI's {"type": "function", "function": {"name": ...}}
        tool_choice = tool_choice["function"]["name"]
    flat_tools = None
    if tools is not None:
        flat_tools = []
        for t in tools:
            f = t.get("function", t)
            params = f.get("parameters")
            flat_tools.append({"name": f.get("name", ""), "description": f.get("description", ""),
                               "parameters": json.dumps(params) if params is not None else ""})
    return {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
            "top_k": top_k, "min_p": min_p, "repetition_penalty": repetition_penalty,
            "presence_penalty": presence_penalty, "frequency_penalty": frequency_penalty,
            "seed": seed, "stop": list(stop) if stop else None,
            "stop_token_ids": list(stop_token_ids) if stop_token_ids else None,
            "ignore_eos": ignore_eos,
            "logit_bias": {int(k): float(v) for k, v in logit_bias.items()} if logit_bias else None,
            "json_schema": json_schema, "regex": regex,
            "choices": list(choices) if choices is not None else None,
            "tools": flat_tools, "tool_choice": tool_choice,
            "parallel_tool_calls": parallel_tool_calls,
            "template_variables": json.dumps(template_variables) if template_variables else ""}


def _prompt(prompt: str | Sequence[int] | Sequence[dict]) -> Any:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)):
        return list(prompt)
    raise TypeError("prompt must be a str, a list of token ids or a list of message dicts")


_OPEN_MODELS: "weakref.WeakSet[Model]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # Before the interpreter finalizes: the Scheduler threads end while Python can still take
    # their last callbacks.
    for model in list(_OPEN_MODELS):
        model.close()


class Model:
    """A loaded model and its Scheduler. Thread-safe: call from many threads at once. Usable as
    a context manager; close() ends its requests and frees it (also done at exit)."""

    def __init__(self, core: Any):
        self._core = core
        _OPEN_MODELS.add(self)

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @classmethod
    def load(cls, path: str, *, threads: int = 0, max_context: int = 0,
             kv_cache_bytes: int = 0, max_num_seqs: int = 0, device: str = "cpu",
             kv_cache_dtype: str = "auto") -> "Model":
        """Loads a GGUF file or a Hugging Face folder. threads=0: one per physical core;
        max_context=0: the model's own; kv_cache_bytes=0 and max_num_seqs=0: the Scheduler's
        defaults (a share of free memory; 64 sequences). device: "cpu", "cuda" or "cuda:N" (a
        missing GPU raises, naming why). kv_cache_dtype: "auto" (float32) or "float16" (half
        the cache's memory, K and V rounded to F16)."""
        return cls(_core.Model.load(str(path), threads, max_context, kv_cache_bytes,
                                    max_num_seqs, device, kv_cache_dtype))

    @property
    def info(self) -> ModelInfo:
        return self._core.info

    @property
    def tokenizer(self) -> Tokenizer:
        return self._core.tokenizer

    @property
    def chat_template(self) -> str:
        return self._core.chat_template

    def render_chat(self, messages: Sequence[dict], *, add_generation_prompt: bool = True,
                    tools: Sequence[dict] | None = None, tool_choice: str | dict = "auto",
                    template_variables: dict | None = None) -> str:
        """The prompt the model's chat template makes of `messages` (as the server renders it)."""
        options = _options(tools=tools, tool_choice=tool_choice,
                           template_variables=template_variables)
        options["add_generation_prompt"] = add_generation_prompt
        return self._core.render_chat(list(messages), options)

    def logits(self, ids: Sequence[int]) -> list[float]:
        """Teacher-forced logits at every position, flattened [len(ids) * vocab_size]."""
        return self._core.logits(list(ids))

    def generate(self, prompt: str | Sequence[int] | Sequence[dict], **options: Any) -> Completion:
        """Generates to the end; see _options for the keyword arguments."""
        handle = self._core.submit(_prompt(prompt), _options(**options))
        return _completion(handle.wait())

    def stream(self, prompt: str | Sequence[int] | Sequence[dict],
               **options: Any) -> Iterator[str]:
        """Yields the text as it is generated (whole UTF-8 characters). Closing the iterator
        early cancels the request."""
        handle = self._core.submit(_prompt(prompt), _options(**options))
        try:
            while (piece := handle.next()) is not None:
                if piece:
                    yield piece
            _completion(handle.wait())  # raises if the generation failed
        finally:
            if not handle.finished:
                handle.cancel()

    def generate_batch(self, prompts: Sequence[str | Sequence[int] | Sequence[dict]],
                       **options: Any) -> list[Completion]:
        """All prompts submitted at once and batched by the Scheduler; results in order."""
        handles = [self._core.submit(_prompt(p), _options(**options)) for p in prompts]
        try:
            return [_completion(h.wait()) for h in handles]
        finally:
            for h in handles:
                if not h.finished:
                    h.cancel()


class AsyncEngine:
    """asyncio over a Model's Scheduler: `await engine.generate(...)` and
    `async for piece in engine.stream(...)`. Many tasks may run at once; their requests are
    batched together. Cancelling a task cancels its request."""

    def __init__(self, model: Model):
        self._model = model

    def _submit(self, prompt: Any, options: dict) -> tuple[Any, asyncio.Queue]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def on_text(data: bytes) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("text", data.decode("utf-8")))

        def on_done(result: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("done", result))

        handle = self._model._core.submit_with_callbacks(  # pylint: disable=protected-access
            _prompt(prompt), _options(**options), on_text, on_done)
        return handle, queue

    async def stream(self, prompt: str | Sequence[int] | Sequence[dict],
                     **options: Any) -> AsyncIterator[str]:
        handle, queue = self._submit(prompt, options)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "done":
                    _completion(value)
                    return
                if value:
                    yield value
        finally:
            if not handle.finished:
                handle.cancel()

    async def generate(self, prompt: str | Sequence[int] | Sequence[dict],
                       **options: Any) -> Completion:
        handle, queue = self._submit(prompt, options)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "done":
                    return _completion(value)
        finally:
            if not handle.finished:
                handle.cancel()
