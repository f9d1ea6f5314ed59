# Type stubs of the libinfer package (the runtime is __init__.py over the _core extension).
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator, Sequence

Prompt = str | Sequence[int] | Sequence[dict[str, Any]]

class Error(RuntimeError): ...

class ModelInfo:
    path: str
    format: str
    architecture: str
    name: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    context_length: int
    file_type: str
    weight_types: str
    parameter_count: int
    cpu_kernels: str
    cpu_model: str
    num_threads: int
    device: str

class ToolCall:
    id: str
    name: str
    arguments: str

class Tokenizer:
    vocab_size: int
    bos_id: int
    eos_id: int
    def encode(self, text: str, add_bos: bool = True, parse_special: bool = True) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...

class Claims:
    subject: str
    role: str
    expires_at: int
    issued_at: int

class AuthStore:
    @staticmethod
    def from_file(path: str) -> AuthStore: ...
    def login(self, username: str, password: str) -> str: ...
    def verify(self, token: str) -> Claims: ...

def hash_password(password: str) -> str: ...
def verify_password(stored_hash: str, password: str) -> bool: ...
def generate_jwt_key() -> str: ...

@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = ...
    @property
    def total_tokens(self) -> int: ...

@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    usage: Usage
    token_ids: list[int] = ...
    tool_calls: list[ToolCall] = ...
    time_to_first_token: float = ...

class Model:
    @classmethod
    def load(cls, path: str, *, threads: int = 0, max_context: int = 0,
             kv_cache_bytes: int = 0, max_num_seqs: int = 0, device: str = "cpu",
             kv_cache_dtype: str = "auto") -> Model: ...
    def close(self) -> None: ...
    def __enter__(self) -> Model: ...
    def __exit__(self, *exc: Any) -> None: ...
    @property
    def info(self) -> ModelInfo: ...
    @property
    def tokenizer(self) -> Tokenizer: ...
    @property
    def chat_template(self) -> str: ...
    def render_chat(self, messages: Sequence[dict[str, Any]], *,
                    add_generation_prompt: bool = True,
                    tools: Sequence[dict[str, Any]] | None = None,
                    tool_choice: str | dict[str, Any] = "auto",
                    template_variables: dict[str, Any] | None = None) -> str: ...
    def logits(self, ids: Sequence[int]) -> list[float]: ...
    def generate(self, prompt: Prompt, *, max_tokens: int = 256, temperature: float = 1.0,
                 top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0,
                 repetition_penalty: float = 1.0, presence_penalty: float = 0.0,
                 frequency_penalty: float = 0.0, seed: int | None = None,
                 stop: str | Sequence[str] | None = None,
                 stop_token_ids: Sequence[int] | None = None, ignore_eos: bool = False,
                 logit_bias: dict[int, float] | None = None,
                 json_schema: dict[str, Any] | str | None = None, regex: str | None = None,
                 choices: Sequence[str] | None = None,
                 tools: Sequence[dict[str, Any]] | None = None,
                 tool_choice: str | dict[str, Any] = "auto", parallel_tool_calls: bool = True,
                 template_variables: dict[str, Any] | None = None) -> Completion: ...
    def stream(self, prompt: Prompt, **options: Any) -> Iterator[str]: ...
    def generate_batch(self, prompts: Sequence[Prompt], **options: Any) -> list[Completion]: ...

class AsyncEngine:
    def __init__(self, model: Model) -> None: ...
    def stream(self, prompt: Prompt, **options: Any) -> AsyncIterator[str]: ...
    async def generate(self, prompt: Prompt, **options: Any) -> Completion: ...
