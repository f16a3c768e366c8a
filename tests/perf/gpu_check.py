"""The GPU check: one command, at most about 5 minutes on one GPU.

    python tests/perf/gpu_check.py [--skip-tasks] [--skip-hem] [--skip-resnet]

1. Every task for 1 epoch at ``bf16-mixed`` and at ``16-mixed`` (``hem-bench run
   --accelerator gpu``, four runs at a time); each record is checked: completed, the
   precision and accelerator recorded, the headline finite.
2. HEM (``hem_bench.losses.get_loss("hem")``) against ``F.cross_entropy``, forward +
   backward on CUDA, for logits (4096, 100) and (16, 21, 512, 512): medians of CUDA-event
   timings, the ratio printed (goal <= 1.0x).
3. A CIFAR-shaped ResNet-18 epoch (45,000 training + 5,000 validation images, batch 128,
   crop + flip) on a synthetic CIFAR-10 folder through ``hem-bench run``, against a
   hand-written CUDA loop doing the same (model, optimiser, schedule, augmentation on the
   device, validation); images per second of each printed (goal <= 1.1x).

Without a CUDA GPU it says so and exits 0. It exits 1 when a check fails (a run that fails
or a record that is wrong); the speed figures are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PRECISIONS = ("bf16-mixed", "16-mixed")
#: task options keeping each 1-epoch run short (the defaults otherwise)
TASK_FLAGS = {
    "classify": ["--task-option", "severities=1,3,5"],
    "adversarial": ["--task-option", "autoattack_n=100"],
}


def run_task(task: str, precision: str, out: Path) -> tuple[str, str, float, str]:
    """One ``hem-bench run``; returns (task, precision, seconds, problem or '')."""
    folder = out / f"{task}-{precision}"
    command = [sys.executable, "-m", "hem_bench", "run", "--task", task, "--loss", "hem"]
    command += ["--max-epochs", "1", "--precision", precision, "--accelerator", "gpu"]
    command += ["--no-progress", "--out", str(folder), *TASK_FLAGS.get(task, [])]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return task, precision, seconds, f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}"
    records = list(folder.glob("*/record.json"))
    if len(records) != 1:
        return task, precision, seconds, f"{len(records)} records"
    record = json.loads(records[0].read_text())
    problems = []
    if record.get("status") != "completed":
        problems.append(f"status {record.get('status')}")
    if record["config"].get("precision") != precision:
        problems.append(f"precision {record['config'].get('precision')}")
    if record["config"].get("accelerator") != "gpu":
        problems.append(f"accelerator {record['config'].get('accelerator')}")
    headline = record.get("headline", {}).get("value")
    if not isinstance(headline, (int, float)) or not math.isfinite(headline):
        problems.append(f"headline {headline!r}")
    return task, precision, seconds, "; ".join(problems)


def check_tasks(out: Path) -> bool:
    from hem_bench.tasks import available_tasks

    jobs = [(t, p) for t in available_tasks() for p in PRECISIONS]
    print(f"\n1. every task, 1 epoch, at {' and '.join(PRECISIONS)} ({len(jobs)} runs)")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: run_task(*job, out), jobs))
    ok = True
    for task, precision, seconds, problem in results:
        print(f"  {task:12s} {precision:11s} {seconds:6.1f} s  {problem or 'record ok'}")
        ok &= not problem
    return ok


def cuda_median_ms(fn, repeats: int = 30) -> float:
    import torch

    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def check_hem() -> bool:
    import torch
    import torch.nn.functional as F

    from hem_bench.losses import get_loss

    print("\n2. HEM against F.cross_entropy, forward + backward on CUDA")
    hem = get_loss("hem")
    ok = True
    for shape in ((4096, 100), (16, 21, 512, 512)):
        gen = torch.Generator(device="cuda").manual_seed(0)
        logits = torch.randn(shape, device="cuda", generator=gen).requires_grad_()
        target_shape = (shape[0], *shape[2:])
        target = torch.randint(0, shape[1], target_shape, device="cuda", generator=gen)

        def step(loss_fn, logits=logits, target=target):
            def call():
                logits.grad = None
                loss_fn(logits, target).backward()

            return call

        loss = hem(logits, target)
        loss.backward()
        if not torch.isfinite(loss) or not torch.isfinite(logits.grad).all():
            print(f"  {shape}: HEM gave a non-finite loss or gradient")
            ok = False
        ce = cuda_median_ms(step(F.cross_entropy))
        ours = cuda_median_ms(step(hem))
        print(
            f"  {str(shape):18s} cross-entropy {ce:7.3f} ms   HEM {ours:7.3f} ms   {ours / ce:.2f}x"
        )
    return ok


def write_synthetic_cifar10(root: Path, train: int = 50_000, test: int = 10_000) -> Path:
    """A CIFAR-10 folder (python pickles, as torchvision reads them) of random images."""
    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per = train // 5
    for name, count in [(f"data_batch_{i}", per) for i in range(1, 6)] + [("test_batch", test)]:
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, count).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    return root


def hand_written_epoch(config) -> tuple[float, int]:
    """One epoch of the recipe by hand: data on the GPU, crop + flip there, SGD + cosine,
    cross-entropy, then validation. Returns (seconds, training images)."""
    import torch
    import torch.nn.functional as F

    from hem_bench.datamodules.classification import ClassificationDataModule
    from hem_bench.models import build_classifier

    dm = ClassificationDataModule(
        "cifar10",
        data_dir=config["data_dir"],
        verify=False,
        batch_size=config["batch_size"],
        crop_padding=config["crop_padding"],
        flip=config["flip"],
    )
    dm.setup()
    device = torch.device("cuda")
    train = dm.train_set.images.to(device)
    train_y = dm.train_set.labels.to(device)
    val = dm.val_set.images.to(device)
    val_y = dm.val_set.labels.to(device)
    model = build_classifier(config["model"], 10, (3, 32, 32), dm.mean, dm.std).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config["lr"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
    )
    batch = config["batch_size"]
    steps = math.ceil(len(train) / batch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    pad = config["crop_padding"]
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.train()
    order = torch.randperm(len(train), device=device)
    for i in range(steps):
        index = order[i * batch : (i + 1) * batch]
        x = train[index].float().div_(255)
        n = len(index)
        if pad:
            padded = F.pad(x, (pad,) * 4)
            dx, dy = torch.randint(0, 2 * pad + 1, (2, n), device=device)
            rows = torch.arange(32, device=device) + dy[:, None]
            cols = torch.arange(32, device=device) + dx[:, None]
            b = torch.arange(n, device=device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]
            x = x.permute(0, 3, 1, 2).contiguous()
        flip = torch.rand(n, device=device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = F.cross_entropy(model(x), train_y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        correct = torch.zeros((), device=device)
        for i in range(0, len(val), 1024):
            logits = model(val[i : i + 1024].float().div_(255))
            correct += (logits.argmax(1) == val_y[i : i + 1024]).sum()
    float(correct)
    torch.cuda.synchronize()
    return time.perf_counter() - start, len(train)


def check_resnet(out: Path) -> bool:
    from hem_bench.config import RunConfig

    print("\n3. CIFAR-shaped ResNet-18, 1 epoch on synthetic data: hem-bench against a hand loop")
    data = write_synthetic_cifar10(out / "data")
    folder = out / "resnet"
    command = [sys.executable, "-m", "hem_bench", "run", "--task", "classify", "--loss", "ce"]
    command += ["--dataset", "cifar10", "--data-dir", str(data), "--no-verify"]
    command += ["--max-epochs", "1", "--accelerator", "gpu", "--no-progress", "--out", str(folder)]
    command += ["--task-option", "corruptions=none"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  hem-bench run failed: {proc.stderr.strip()[-400:]}")
        return False
    (path,) = folder.glob("*/record.json")
    record = json.loads(path.read_text())
    resolved = RunConfig(task="classify", dataset="cifar10", data_dir=str(data)).resolve()
    config = {**resolved.model_dump(), "data_dir": str(data)}
    seconds, images = hand_written_epoch(config)
    fit = record["timings"]["fit"]
    print(f"  hand-written CUDA loop  {seconds:6.1f} s  {images / seconds:8.0f} images/s")
    print(
        f"  hem-bench (Lightning)   {fit:6.1f} s  {images / fit:8.0f} images/s  {fit / seconds:.2f}x"
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="hem-bench's check on one GPU")
    parser.add_argument("--skip-tasks", action="store_true")
    parser.add_argument("--skip-hem", action="store_true")
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: the GPU check has nothing to run")
        return 0
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    start, ok = time.perf_counter(), True
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if not args.skip_tasks:
            ok &= check_tasks(out)
        if not args.skip_hem:
            ok &= check_hem()
        if not args.skip_resnet:
            ok &= check_resnet(out)
    print(
        f"\n{'all checks passed' if ok else 'SOME CHECKS FAILED'} in {time.perf_counter() - start:.0f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
