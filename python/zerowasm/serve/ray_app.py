"""``zerowasm serve`` as a Ray Serve application: the same FastAPI app, replicated.

Each replica is a Ray actor that builds the ordinary server app
(:func:`zerowasm.serve.app.create_app`) from the same :class:`ServeSettings`, so
its pools, queue, sessions, admin API, web page and metrics are those of one
``zerowasm serve`` process. Ray Serve's HTTP proxy spreads requests over the
replicas; every response carries ``X-Zerowasm-Replica`` (the replica's id) and
``X-Zerowasm-Pid`` so a client can tell which one served it.

State stays per replica: a chat session (``X-Session-Id``) lives in the replica
that created it, ``/v1/stats`` and ``/metrics`` describe the replica that
answered, and admin calls (load/activate/rollback a version) reach one replica
each. Send follow-ups of a session to the same replica, or run one replica per
model version rollout. Ray Serve routes by load, not by session.

From Python::

    from zerowasm.serve.ray_app import run
    run(ServeSettings(port=8000), num_replicas=2)      # connects to (or starts) Ray

From the command line: ``zerowasm serve --ray --num-replicas 2 [--address auto]``.
Requires the ``ray`` extra (``pip install zerowasm[ray]``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .settings import ServeSettings

REPLICA_HEADER = "X-Zerowasm-Replica"
PID_HEADER = "X-Zerowasm-Pid"
DEFAULT_APP_NAME = "zerowasm"
GPU_BACKENDS = ("cuda", "metal", "vulkan")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _require_ray() -> Any:
    try:
        from ray import serve
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise SystemExit(
            f"zerowasm serve --ray needs Ray Serve: pip install 'zerowasm[ray]' ({e})"
        ) from e
    return serve


class ReplicaHeaders:
    """ASGI middleware: tag every HTTP response (streams included) with the replica that made it."""

    def __init__(self, app: ASGIApp, replica_id: str) -> None:
        self.app = app
        self.headers = [
            (REPLICA_HEADER.lower().encode(), replica_id.encode()),
            (PID_HEADER.lower().encode(), str(os.getpid()).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, tagged)


def _replica_id() -> str:
    """This replica's Ray Serve id (unique in the cluster), or host:pid outside a replica."""
    try:
        from ray import serve

        ctx = serve.get_replica_context()
        rid = getattr(ctx, "replica_id", None)
        unique = getattr(rid, "unique_id", None) or getattr(ctx, "replica_tag", None)
        if unique:
            return str(unique)
    except Exception:  # noqa: BLE001 - not inside a replica (e.g. a unit test of the builder)
        pass
    return f"{os.uname().nodename}:{os.getpid()}"


def build_replica_app(settings: ServeSettings) -> FastAPI:
    """The app one replica serves: the ordinary server app, its responses tagged with the replica id."""
    from .app import create_app

    app = create_app(settings)
    app.add_middleware(ReplicaHeaders, replica_id=_replica_id())
    return app


def replica_resources(settings: ServeSettings, num_gpus: float | None, num_cpus: float) -> dict[str, float]:
    """Ray actor options of one replica: ``num_cpus``, and a GPU when the backend runs on one.

    ``num_gpus=None`` decides from the backend: a GPU backend named explicitly
    (``cuda``, ``metal``, ``vulkan``) gets one GPU per replica; ``auto`` gets one
    when the cluster has GPUs (Ray then sets ``CUDA_VISIBLE_DEVICES`` per replica,
    and the backend's device 0 is the replica's own GPU), else none.
    """
    if num_gpus is None:
        backend = (getattr(settings, "backend", None) or "auto").lower()
        if backend in GPU_BACKENDS:
            num_gpus = 1.0
        elif backend == "auto":
            import ray

            num_gpus = 1.0 if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        else:
            num_gpus = 0.0
    return {"num_cpus": float(num_cpus), "num_gpus": float(num_gpus)}


def deployment(settings: ServeSettings, *, num_replicas: int = 1, num_cpus: float = 1.0,
               num_gpus: float | None = None, name: str = DEFAULT_APP_NAME) -> Any:
    """A bound Ray Serve application (``serve.run`` it) of ``num_replicas`` replicas of the server.

    Call after ``ray.init`` when ``num_gpus`` is None and the backend is ``auto``
    (the GPU decision reads the cluster's resources).
    """
    serve = _require_ray()

    def build() -> FastAPI:  # evaluated on each replica, after its process started
        return build_replica_app(settings)

    ingress = serve.ingress(build)

    @serve.deployment(name=name, num_replicas=num_replicas,
                      ray_actor_options=replica_resources(settings, num_gpus, num_cpus))
    @ingress
    class ZerowasmServer:
        """One replica of ``zerowasm serve``."""

    # mypy keeps a decorated class its own type; serve.deployment made it a Deployment, which has bind().
    return ZerowasmServer.bind()  # type: ignore[attr-defined]


def run(settings: ServeSettings, *, num_replicas: int = 1, num_cpus: float = 1.0,
        num_gpus: float | None = None, address: str | None = None, name: str = DEFAULT_APP_NAME,
        route_prefix: str = "/", blocking: bool = False) -> Any:
    """Connect to Ray (``address``; None starts a local cluster or joins ``RAY_ADDRESS``), start
    Serve's HTTP proxy on ``settings.host:settings.port`` and deploy the server; returns its handle.

    Blocks until Ctrl-C with ``blocking=True``.
    """
    serve = _require_ray()
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    app = deployment(settings, num_replicas=num_replicas, num_cpus=num_cpus, num_gpus=num_gpus, name=name)
    handle = serve.run(app, name=name, route_prefix=route_prefix)
    if blocking:
        print(f"zerowasm serve (Ray, {num_replicas} replica(s)): http://{settings.host}:{settings.port}{route_prefix}",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            serve.delete(name)
    return handle


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerowasm serve --ray", description="Serve on a Ray cluster with Ray Serve.")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto' = the one `ray start` started here, or ray://host:10001); "
                        "default: RAY_ADDRESS, else a new local cluster")
    p.add_argument("--num-replicas", type=int, default=1, help="server replicas (default 1)")
    p.add_argument("--replica-cpus", type=float, default=1.0, help="CPUs reserved per replica (default 1)")
    p.add_argument("--replica-gpus", type=float, default=None,
                   help="GPUs per replica (default: 1 for a GPU backend or when the cluster has GPUs, else 0)")
    p.add_argument("--name", default=DEFAULT_APP_NAME, help="Ray Serve application name")
    p.add_argument("--route-prefix", default="/", help="URL prefix of the app on the proxy (default /)")
    return p


def main(settings: ServeSettings, argv: list[str]) -> int:
    """Entry point of ``zerowasm serve --ray``: ``argv`` holds the Ray options (see :func:`build_parser`)."""
    args = build_parser().parse_args(argv)
    if args.num_replicas < 1:
        raise SystemExit("--num-replicas must be at least 1")
    run(settings, num_replicas=args.num_replicas, num_cpus=args.replica_cpus, num_gpus=args.replica_gpus,
        address=args.address, name=args.name, route_prefix=args.route_prefix, blocking=True)
    return 0
