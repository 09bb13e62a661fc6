"""Soak and growth: no leaked memory or mappings over many instance lifetimes, and a
memory grown page by page keeps its base and computes correctly at every size."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pytest
import zerowasm
from limit_guests import SPIN_WAT, ops_wat

PAGE = zerowasm.PAGE_SIZE
MIB = 1 << 20


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def map_count() -> int:
    return len(Path("/proc/self/maps").read_text().splitlines())


pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")


def test_10000_instance_lifetimes_leak_neither_memory_nor_mappings() -> None:
    mod = zerowasm.Runtime("cpu").load(SPIN_WAT)

    def cycle() -> None:
        inst = mod.instantiate()
        assert inst.call("grow", 3) == 1  # commit a few pages too
        assert inst.call("count", 100, timeout=10) == 100  # and run the deadline path
        inst.memory.view(0, 4 * PAGE)[::4096] = 7
        del inst

    for _ in range(500):
        cycle()
    gc.collect()
    rss_500, maps_500 = rss_bytes(), map_count()
    for _ in range(9500):
        cycle()
    gc.collect()
    rss_end, maps_end = rss_bytes(), map_count()
    assert abs(rss_end - rss_500) <= 0.01 * rss_500, (rss_500, rss_end)
    assert maps_end <= maps_500, (maps_500, maps_end)


@pytest.mark.slow
def test_minilm_create_embed_destroy_200_times() -> None:
    from minilm_fixtures import load_model

    cycles = int(os.environ.get("ZEROWASM_SOAK_MINILM", "200"))
    reference = load_model("cpu").embed(["the sandbox stays in charge"])
    gc.collect()

    def cycle() -> None:
        model = load_model("cpu")
        assert np.array_equal(model.embed(["the sandbox stays in charge"]), reference)
        del model

    # The allocator and Python's caches settle over the first ~10-20 lifetimes
    # (measured: +1.6 MB in the first 10, then flat within 0.2%).
    warmup = max(1, cycles // 10)
    for _ in range(warmup):
        cycle()
    gc.collect()
    rss_warm, maps_warm = rss_bytes(), map_count()
    for _ in range(cycles - warmup):
        cycle()
    gc.collect()
    rss_end, maps_end = rss_bytes(), map_count()
    assert abs(rss_end - rss_warm) <= 0.01 * rss_warm, (rss_warm, rss_end)
    assert maps_end <= maps_warm, (maps_warm, maps_end)


def test_grow_storm_keeps_the_base_and_computes_over_every_size() -> None:
    """Grow one page at a time from 1 page to 1 GiB (16,383 grows); the base never moves.
    After every grow a zw.add runs over the whole memory up to 16 MiB, and beyond that over
    the page just grown, with a whole-memory zw.add at every power of two. (A whole-memory
    add after every one of the 16,383 grows would stream ~9 TB through zw.add.)"""
    inst = zerowasm.Runtime("cpu").load(ops_wat(1)).instantiate()
    mem = inst.memory
    base = mem.address
    last = (1 << 30) // PAGE
    for pages in range(2, last + 1):
        assert inst.call("grow", 1) == pages - 1
        assert mem.address == base and mem.size == pages * PAGE
        page = mem.view((pages - 1) * PAGE, PAGE // 4, np.float32)
        # Probes: first and last float of every page, the rest zero (checked at full adds).
        page[0], page[-1] = pages - 1, 1.5
        whole = pages <= 256 or pages & (pages - 1) == 0
        if not whole:
            inst.call("add_page", pages - 1)
            assert page[0] == 2 * (pages - 1) and page[-1] == 3.0 and mem.address == base
            # Undo, so the next whole-memory add sees every page's probes at 1x.
            page[0], page[-1] = pages - 1, 1.5
            continue
        grid = mem.view(0, (pages, PAGE // 4), np.float32)
        grid[:, 0] = np.arange(pages, dtype=np.float32)  # reset: earlier whole adds doubled these
        grid[:, -1] = 1.5
        inst.call("add_all")
        assert mem.address == base
        np.testing.assert_array_equal(grid[:, 0], 2 * np.arange(pages, dtype=np.float32))
        assert (grid[:, -1] == 3.0).all()
        if pages in (256, 4096, last):
            assert np.count_nonzero(grid) == 2 * pages - 1  # page 0's first float is 0
        del grid
    assert mem.size == 1 << 30
