"""How the Metal executor splits linear memory into MTLBuffer views.

csrc/backend/metal/buffer_views.cpp is plain C++, so it is built (with
linux_check/buffer_views_driver.cpp, by checks.cmake) and run here; Python
checks its answers independently: every view is page aligned, within
device.maxBufferLength and the committed pages, the views cover the memory,
and every tensor up to the guaranteed size lies inside one view (larger ones
get a fitted view when they fit under the limit at all).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import metal_linux_checks as checks
import numpy as np
import pytest

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def planner() -> Path:
    """linux_check/buffer_views_driver.cpp, built by the project's CMake (checks.cmake)."""
    return checks.program("zw_metal_buffer_views_driver")


@dataclass
class Plan:
    guaranteed: int  # every range up to this many bytes lies inside one view
    views: list[tuple[int, int]]  # (offset, length)
    answers: list[tuple[int, bool, int, int]]  # per query: find index, fitted?, fitted offset, length


def plan(planner: Path, committed: int, max_len: int, page: int, queries: list[tuple[int, int]]) -> Plan:
    text = f"{committed} {max_len} {page} {len(queries)}\n" + "".join(f"{o} {b}\n" for o, b in queries)
    out = subprocess.run([str(planner)], input=text, capture_output=True, text=True, check=True).stdout
    lines = out.split("\n")
    n = int(lines[1].split()[1])
    views = [(int(line.split()[0]), int(line.split()[1])) for line in lines[2 : 2 + n]]
    answers = []
    rest = lines[2 + n :]
    for q in range(len(queries)):
        find = int(rest[2 * q].split()[1])
        _, ok, f_off, f_len = rest[2 * q + 1].split()
        answers.append((find, ok == "1", int(f_off), int(f_len)))
    return Plan(int(lines[0].split()[1]), views, answers)


def round_up(v: int, a: int) -> int:
    return -(-v // a) * a


def check_plan(committed: int, max_len: int, page: int, queries: list[tuple[int, int]], got: Plan) -> None:
    total = round_up(committed, page)
    cap = max_len // page * page
    views = got.views
    if total == 0:
        assert views == []
        return
    for offset, length in views:
        assert offset % page == 0 and length % page == 0 and length > 0
        assert length <= max_len and offset + length <= total
    # The views cover [0, total) without holes.
    covered = 0
    for offset, length in sorted(views):
        assert offset <= covered
        covered = max(covered, offset + length)
    assert covered == total
    if total <= cap:
        assert views == [(0, total)]
    guaranteed = got.guaranteed
    assert guaranteed >= cap // 2 - page  # overlap is about half a view
    for (off, size), (find, ok, f_off, f_len) in zip(queries, got.answers):
        inside = [i for i, (o, n) in enumerate(views) if o <= off and off + size <= o + n]
        assert find == (inside[0] if inside else -1)
        in_memory = off + size <= total
        if in_memory and (size <= guaranteed or total <= cap):
            assert find >= 0, (off, size)
        # A view starts on a page and spans whole pages (newBufferWithBytesNoCopy).
        fitted_length = min(round_up(off + size, page), total) - off // page * page
        expect_fit = off + size <= total and fitted_length <= max_len
        if size == 0:
            expect_fit = off < total and page <= max_len
        assert ok == expect_fit, (off, size)
        if ok:
            assert f_off % page == 0 and f_len <= max_len and f_off + f_len <= total
            assert f_off <= off and off + size <= f_off + f_len


def test_memory_below_the_limit_is_one_view(planner: Path) -> None:
    queries = [(0, 64 * KIB), (100, 5), (64 * MIB - 4, 4)]
    got = plan(planner, 64 * MIB, 4 * GIB, 16 * KIB, queries)
    assert got.views == [(0, 64 * MIB)]
    check_plan(64 * MIB, 4 * GIB, 16 * KIB, queries, got)


def test_nothing_committed(planner: Path) -> None:
    got = plan(planner, 0, GIB, 16 * KIB, [])
    assert got.views == []


@pytest.mark.parametrize("page", [4 * KIB, 16 * KIB])
@pytest.mark.parametrize("seed", range(6))
def test_large_memory_splits_into_overlapping_views(planner: Path, page: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    max_len = int(rng.integers(8, 64)) * page + int(rng.integers(0, page))  # not page aligned
    committed = int(rng.integers(1, 40)) * max_len // 3 + int(rng.integers(0, 3 * page))
    committed = round_up(committed, 64 * KIB)  # Wasm pages
    total = round_up(committed, page)
    queries: list[tuple[int, int]] = []
    for _ in range(300):
        size = int(rng.choice([rng.integers(0, 64), rng.integers(0, max_len // 2), rng.integers(0, 2 * max_len)]))
        size = min(size, total)  # validation only passes ranges inside the memory
        off = int(rng.integers(0, total - size + 1))
        queries.append((off, size))
    queries += [(0, total), (total - 4, 4), (total, 0)]
    check_plan(committed, max_len, page, queries, plan(planner, committed, max_len, page, queries))


def test_wasm32_memory_with_a_small_device_limit(planner: Path) -> None:
    """4 GiB of guest memory, 1 GiB buffers: a 512 MiB tensor anywhere fits one view."""
    page, max_len, committed = 16 * KIB, GIB, 4 * GIB
    rng = np.random.default_rng(9)
    queries = [(int(rng.integers(0, committed - 512 * MIB)) // 4 * 4, 512 * MIB) for _ in range(200)]
    got = plan(planner, committed, max_len, page, queries)
    assert got.guaranteed >= 512 * MIB
    assert all(find >= 0 for find, *_ in got.answers)
    check_plan(committed, max_len, page, queries, got)
