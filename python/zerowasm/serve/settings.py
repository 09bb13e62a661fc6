"""ServeSettings: everything `zerowasm serve` can be told, in one dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

# The names clients use in "model"; aliases map to them.
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
CHAT_MODEL = "SmolLM2-135M-Instruct"
MODEL_KINDS = {EMBEDDING_MODEL: "minilm", CHAT_MODEL: "smollm"}
ALIASES = {"minilm": EMBEDDING_MODEL, "smollm": CHAT_MODEL, "smollm2": CHAT_MODEL,
           EMBEDDING_MODEL.lower(): EMBEDDING_MODEL, CHAT_MODEL.lower(): CHAT_MODEL}


@dataclass
class ServeSettings:
    """How a server is set up (the CLI flags of `zerowasm serve` map onto these fields).

    instances: guest instances per served model version (each runs one request at a time).
    queue_size: requests per model that may wait for an instance; one more is answered 429.
    request_timeout_s: deadline of every request (queueing included) unless the request asks
    for less with the ``X-Request-Timeout`` header; past it: 504, the guest stopped.
    batch_window_ms / max_batch: embedding requests arriving within the window are merged into
    one guest call of at most max_batch texts (max_batch 1 turns batching off).
    admin_token: bearer token of the /admin API (None: the admin API answers 403).
    models: which models to serve ("minilm", "smollm").
    """

    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = "auto"
    instances: int = 1
    queue_size: int = 64
    request_timeout_s: float = 60.0
    batch_window_ms: float = 5.0
    max_batch: int = 64
    admin_token: str | None = None
    models: tuple[str, ...] = ("minilm", "smollm")
    # chat
    n_ctx: int = 2048  # KV positions of every chat session
    max_sessions: int = 8  # resident sessions per chat instance; more are snapshotted to host memory (LRU)
    max_evicted_sessions: int = 1024  # snapshots kept in host memory; older ones are dropped
    default_max_tokens: int = 256
    # input limits
    max_body_bytes: int = 1 << 20
    max_input_items: int = 2048  # texts per embeddings request
    max_input_chars: int = 100_000  # characters per text / message
    quiet: bool = True
    extra: dict[str, str] = field(default_factory=dict)  # for deployments built on this app (e.g. Ray)

    def __post_init__(self) -> None:
        if self.instances < 1:
            raise ValueError(f"instances must be >= 1, got {self.instances}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {self.queue_size}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be > 0, got {self.request_timeout_s}")
        unknown = [m for m in self.models if m not in ALIASES]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; known: minilm, smollm")
