"""Served models and their versions.

A version is one (guest ``.wasm``, weights) pair, named by the SHA-256 of their bytes, with
its own pool of instances. An admin loads a version while the server keeps serving,
activates it (one pointer swap on the event loop: atomic for every later request) and can
roll back to the version active before. A request resolves its version when it arrives and
holds that version's pool until it finishes, so requests in flight complete on the version
they started on; responses carry it in the ``X-Model-Version`` header.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import APIError
from .pool import Pool

VERSION_CHARS = 16  # hex digits of the content hash that name a version


def content_hash(*paths: Path) -> str:
    """SHA-256 over the files' bytes (each prefixed by its size, so boundaries count)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.stat().st_size.to_bytes(8, "little"))
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Version:
    model: str
    sha256: str
    guest: Path
    weights: Path
    pool: Pool
    created: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)  # per-kind helpers (the embedding batcher)

    @property
    def id(self) -> str:
        return self.sha256[:VERSION_CHARS]

    def describe(self, active: bool) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256, "active": active, "created": int(self.created),
                "guest": str(self.guest), "weights": str(self.weights), "instances": len(self.pool.workers),
                "replacements": self.pool.replacements}


# kind -> (default guest path, default weights path) resolvers and the factory maker
ModelFactory = Callable[[Path, Path], Callable[[], Any]]


@dataclass
class ServedModel:
    """One model name clients ask for, with its loaded versions and the active one."""

    name: str
    kind: str  # "minilm" | "smollm"
    make_factory: ModelFactory
    instances: int
    queue_size: int
    versions: dict[str, Version] = field(default_factory=dict)
    active: Version | None = None
    history: list[str] = field(default_factory=list)  # versions active before, oldest first
    created: float = field(default_factory=time.time)
    on_new_version: Callable[[Version], Any] | None = None  # set up per-kind helpers
    _loading: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def load(self, guest: Path, weights: Path) -> tuple[Version, bool]:
        """Load (guest, weights) as a version (not activated); (version, newly loaded)."""
        for p, what in ((guest, "guest"), (weights, "weights")):
            if not p.is_file():
                raise APIError(400, f"{what} file {str(p)!r} does not exist", code="file_not_found", param=what)
        loop = asyncio.get_running_loop()
        async with self._loading:
            sha = await loop.run_in_executor(None, content_hash, guest, weights)
            existing = self.versions.get(sha[:VERSION_CHARS])
            if existing is not None:
                return existing, False
            pool = Pool(f"{self.name}@{sha[:VERSION_CHARS]}", self.make_factory(guest, weights), self.instances,
                        self.queue_size)
            try:
                await pool.start()
            except Exception as e:
                raise APIError(400, f"loading {guest.name} with {weights.name} failed: {e}", code="load_failed") from e
            version = Version(self.name, sha, guest, weights, pool)
            if self.on_new_version is not None:
                self.on_new_version(version)
            self.versions[version.id] = version
            return version, True

    def activate(self, version_id: str) -> Version:
        version = self.get(version_id)
        if self.active is not version:
            if self.active is not None:
                self.history.append(self.active.id)
            self.active = version
        return version

    def rollback(self) -> Version:
        """Activate the version that was active before the current one."""
        while self.history:
            previous = self.history.pop()
            if previous in self.versions and self.versions[previous] is not self.active:
                self.active = self.versions[previous]
                return self.active
        raise APIError(409, f"{self.name} has no earlier version to roll back to", code="no_previous_version")

    def get(self, version_id: str) -> Version:
        for vid, v in self.versions.items():
            if version_id in (vid, v.sha256):
                return v
        raise APIError(404, f"{self.name} has no version {version_id!r}; loaded: {sorted(self.versions)}",
                       code="version_not_found", param="version")

    async def unload(self, version_id: str) -> Version:
        """Forget a version that is not active; its requests in flight finish first."""
        version = self.get(version_id)
        if version is self.active:
            raise APIError(409, f"{version.id} is the active version of {self.name}; activate another first",
                           code="version_active")
        del self.versions[version.id]
        self.history = [h for h in self.history if h != version.id]
        await version.pool.close()
        return version

    def describe(self) -> dict[str, Any]:
        active = self.active.id if self.active else None
        return {"id": self.name, "object": "model", "created": int(self.created), "owned_by": "zerowasm",
                "kind": self.kind, "active_version": active,
                "versions": [v.describe(v.id == active) for v in self.versions.values()]}

