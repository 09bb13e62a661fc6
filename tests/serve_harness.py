"""A live `zerowasm serve` app on 127.0.0.1 (uvicorn in a thread, a free port) for the tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(settings: Any, startup_timeout: float = 300.0) -> Iterator[str]:
    """Serve create_app(settings) until the block ends; yields the base URL (".../v1" is the API)."""
    import uvicorn
    from zerowasm.serve import create_app

    settings.host = "127.0.0.1"
    settings.port = settings.port if settings.port not in (0, 8000) else free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="zw-test-server", daemon=True)
    thread.start()
    url = f"http://{settings.host}:{settings.port}"
    end = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped during startup (see the log above)")
        if time.monotonic() > end:
            server.should_exit = True
            raise RuntimeError(f"the server did not start within {startup_timeout} s")
        time.sleep(0.05)
    assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
