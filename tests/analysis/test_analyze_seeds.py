"""``hem-bench analyze`` across seeds: two losses trained with two seeds, the CKA between
networks of different seeds on the test images both seeds hold out (the same-loss,
other-seed baseline), written into the records and read by the claims."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from hem_bench.analysis import linear_cka
from hem_bench.analysis.study import Run, load_run
from hem_bench.cli import main

TRAIN = [
    "run",
    "--task",
    "classify",
    "--task-option",
    "corruptions=none",
    "--max-epochs",
    "1",
    "--no-progress",
]
LOSSES = ("ce", "hem")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    results = tmp_path_factory.mktemp("seeds")
    for loss in LOSSES:
        for seed in SEEDS:
            argv = [*TRAIN, "--loss", loss, "--seed", str(seed), "--out", str(results)]
            assert main(argv) == 0
    out = results / "report"
    args = ["analyze", "--results", str(results), "--out", str(out), "--write-records"]
    assert main(args) == 0
    found = {}
    for path in results.glob("*/record.json"):
        record = json.loads(path.read_text())
        found[(record["loss"], record["seed"])] = (path.parent, record)
    return results, out, found


def _common(first, second) -> list[int]:
    """Indices into ``first`` of the images (pixels and label) that ``second`` holds too."""
    keys = {
        (bytes(second.images[i].numpy().tobytes()), int(second.labels[i]))
        for i in range(len(second))
    }
    out, seen = [], set()
    for i in range(len(first)):
        key = (bytes(first.images[i].numpy().tobytes()), int(first.labels[i]))
        if key in keys and key not in seen:
            seen.add(key)
            out.append(i)
    return out


def test_cka_across_seeds_matches_linear_cka_on_the_common_test_images(analysed):
    """The logits' CKA between ce at seed 0 and hem at seed 1, recomputed from the two
    trained networks on the test images of seed 0 that seed 1 also holds out."""
    _, out, found = analysed
    runs = {}
    datamodules: dict = {}
    for key in (("ce", 0), ("hem", 1)):
        folder, record = found[key]
        runs[key] = load_run(Run(folder, record), torch.device("cpu"), datamodules)
    test_0 = runs[("ce", 0)].datamodule.test_set
    test_1 = runs[("hem", 1)].datamodule.test_set
    index = _common(test_0, test_1)
    assert 10 <= len(index) < len(test_0)  # the splits differ with the seed
    images = test_0.float_images()[torch.as_tensor(index)]
    with torch.no_grad():
        a = runs[("ce", 0)].model(images).numpy()
        b = runs[("hem", 1)].model(images).numpy()
    expected = linear_cka(a, b)
    stored = found[("ce", 0)][1]["analysis"]["cka_other_seeds"]["1"]["hem"]["logits"]
    mirrored = found[("hem", 1)][1]["analysis"]["cka_other_seeds"]["0"]["ce"]["logits"]
    assert stored == pytest.approx(expected, rel=1e-6) and mirrored == stored
    examples = found[("ce", 0)][1]["analysis"]["cka_other_seeds_examples"]["1"]
    assert examples == len(index)
    with open(out / "cka_seeds.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    pairs = {(r["seed_a"], r["seed_b"], r["loss_a"], r["loss_b"]) for r in rows}
    assert pairs == {("0", "1", a, b) for a in LOSSES for b in LOSSES}
    assert "CKA across seeds" in (out / "summary.md").read_text()


def test_the_claims_read_the_seed_baseline(analysed):
    """The leaderboard's CKA claim shows the same-loss and different-loss profiles across
    seeds; with two seeds the jackknife has no test (it needs three)."""
    from hem_bench.results.kornblith import LAYERS
    from hem_bench.results.leaderboard import build
    from hem_bench.results.store import load_results

    results, _, found = analysed
    board = build(load_results(results).frame)
    text = board.claims.set_index("claim").at[LAYERS, "what the grid shows"]
    assert "CKA across seeds on test images neither network trained on" in text
    same = np.mean(
        [found[(loss, 0)][1]["analysis"]["cka_other_seeds"]["1"][loss]["logits"] for loss in LOSSES]
    )
    assert f"{same:.3f} (logits); different losses" in text
    assert "n=2 seeds (1 seed pairs" in text and "no test" in text
