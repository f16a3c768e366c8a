"""Freed memory goes back to the system between evaluation sets (hem_bench.allocator)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hem_bench.allocator import release_free_memory

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver())

#: a child process that fragments glibc's heap the way a stream of evaluation sets does,
#: then prints its resident memory (MB) before and after release_free_memory()
FRAGMENT = textwrap.dedent(
    """
    import torch
    from hem_bench.allocator import release_free_memory

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    big = torch.ones(32 * 2**20, dtype=torch.uint8)
    del big  # freeing a large mapped block raises glibc's mmap threshold to its size
    blocks, pins = [], []
    for _ in range(300):  # 1 MB blocks from the heap, each followed by a small live one
        blocks.append(torch.ones(2**18))
        pins.append(torch.ones(16))
    blocks.clear()
    before = rss_mb()
    released = release_free_memory()
    print(before, rss_mb(), released)
    """
)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_release_returns_fragmented_heap_pages_to_the_system():
    out = subprocess.run(
        [sys.executable, "-c", FRAGMENT], capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, released = float(out[0]), float(out[1]), out[2]
    assert released == "True"
    # ~300 MB were freed but kept by the heap; most of it is returned
    assert before - after > 200, (before, after)


def test_release_is_harmless_to_call_anywhere():
    assert release_free_memory() in (True, False)
    assert release_free_memory() in (True, False)


def test_memory_is_released_once_per_new_evaluation_set(tmp_path, monkeypatch):
    import hem_bench.tasks.base as base
    from hem_bench.config import RunConfig
    from hem_bench.runner import build_datamodule, build_task
    from hem_bench.trainer import build_trainer

    calls = []
    monkeypatch.setattr(base, "release_free_memory", lambda: calls.append(1) or True)
    config = RunConfig(
        task="classify",
        max_epochs=1,
        progress=False,
        out=str(tmp_path),
        eval_batch_size=64,  # several batches per set: one release per set, not per batch
        task_options={"corruptions": "contrast,scale", "severities": "1,2"},
    ).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    trainer = build_trainer(config, tmp_path)
    trainer.test(task, dataloaders=task.evaluation_loaders(), verbose=False)
    assert len(task.set_names) == 5
    assert len(calls) == 4  # before each set after the first
