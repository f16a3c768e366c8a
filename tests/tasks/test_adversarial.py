"""The adversarial task: attack invariants, the metrics' ordering, options, real formats."""

from __future__ import annotations

import copy

import pytest
import torch

from hem_bench.attacks import (
    fgsm_or_fgm,
    pgd,
    pgd_training_examples,
    trades_kl,
    trades_training_examples,
)
from hem_bench.cli import main
from hem_bench.config import RunConfig
from hem_bench.runner import build_datamodule, build_task
from hem_bench.tasks.options import parse_eps
from tests.datamodules.test_real_formats import write_mnist
from tests.tasks.helpers import record_of

QUICK = ["--max-epochs", "2", "--no-progress", "--task-option", "autoattack_n=16"]


@pytest.fixture(scope="module")
def trained():
    """A digits model trained for a few epochs, and its test set."""
    import lightning as L

    config = RunConfig(task="adversarial", loss="ce", max_epochs=3, progress=False).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    trainer = L.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
    )
    trainer.fit(task, datamodule=dm)
    task.model.eval()
    return task.model, dm.test_set.float_images()[:200], dm.test_set.labels[:200]


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_attacks_stay_in_the_image_box_and_the_budget(trained, norm):
    model, images, labels = trained
    eps = 0.1 if norm == "linf" else 0.8
    for attacker in (fgsm_or_fgm(model, eps, norm), pgd(model, eps, norm, 10, None)):
        torch.manual_seed(0)
        adv = attacker(images, labels)
        assert adv.min() >= 0 and adv.max() <= 1
        delta = (adv - images).flatten(1)
        size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
        assert (size <= eps + 1e-5).all()
        assert (size > 0).any()


def test_zero_budget_changes_nothing_and_stronger_attacks_do_not_help(trained):
    model, images, labels = trained
    clean = accuracy(model, images, labels)
    torch.manual_seed(0)
    assert torch.equal(pgd(model, 0.0, "linf", 10, None)(images, labels), images)
    accs = {}
    for steps in (1, 5, 20):
        torch.manual_seed(0)
        accs[steps] = accuracy(model, pgd(model, 0.1, "linf", steps, None)(images, labels), labels)
    assert accs[20] <= accs[5] + 0.02 <= accs[1] + 0.04  # more steps never help beyond noise
    assert accs[1] <= clean
    torch.manual_seed(0)
    weaker = accuracy(model, pgd(model, 0.05, "linf", 10, None)(images, labels), labels)
    assert accs[5] <= weaker + 0.02 and weaker <= clean


def test_training_examples_maximise_the_loss_under_test(trained):
    from hem_bench.losses import get_loss

    model, images, labels = trained
    loss = get_loss("hem")
    adv = pgd_training_examples(
        model, loss, images, labels, 0.1, 5, torch.Generator().manual_seed(0)
    )
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - images).abs().max() <= 0.1 + 1e-6
    with torch.no_grad():
        assert loss(model(adv), labels) > loss(model(images), labels)


def test_trades_kl_is_the_batch_mean_of_the_kl_divergence():
    gen = torch.Generator().manual_seed(0)
    clean, adv = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    p, q = clean.softmax(1).double(), adv.softmax(1).double()
    expected = (p * (p.log() - q.log())).sum(1).mean()
    assert trades_kl(clean, adv).item() == pytest.approx(expected.item(), rel=1e-5)
    assert trades_kl(clean, clean).item() == pytest.approx(0.0, abs=1e-7)


def test_trades_examples_stay_in_the_ball_raise_the_kl_and_follow_the_seed(trained):
    model, images, _ = trained
    adv = trades_training_examples(model, images, 0.1, 5, seed=3)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - images).abs().max() <= 0.1 + 1e-6
    noise = (images + 0.001 * torch.randn(images.shape)).clamp(0, 1)
    with torch.no_grad():
        clean = model(images)
        assert trades_kl(clean, model(adv)) > 10 * trades_kl(clean, model(noise))
    assert torch.equal(adv, trades_training_examples(model, images, 0.1, 5, seed=3))
    assert not torch.equal(adv, trades_training_examples(model, images, 0.1, 5, seed=4))


def test_trades_training_minimises_the_loss_plus_beta_times_the_kl(tmp_path):
    """The TRADES objective, checked on the task itself against its formula."""
    from hem_bench.losses import get_loss
    from hem_bench.tasks.adversarial import AdversarialTask

    config = RunConfig(
        task="adversarial",
        loss="hem",
        task_options={"adv_train": "trades", "trades_beta": 2.5, "adv_train_steps": 3},
        out=str(tmp_path),
    ).resolve()
    dm = build_datamodule(config)
    dm.setup()
    task = build_task(config, dm)
    assert isinstance(task, AdversarialTask)
    task.setup("fit")
    images, target = dm.test_set.float_images()[:32], dm.test_set.labels[:32]
    state = copy.deepcopy(task.model.state_dict())
    task.model.train()
    loss = task.training_loss(images, target)
    task.model.load_state_dict(state)  # batch norm's running statistics as they were
    task.model.eval()  # the attack runs on the network in evaluation mode ...
    adv = trades_training_examples(task.model, images, 0.1, 3, seed=0)
    task.model.train()  # ... and the objective in training mode
    logits = task.model(images)
    expected = get_loss("hem")(logits, target) + 2.5 * trades_kl(logits, task.model(adv))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_parse_eps():
    assert parse_eps("8/255") == pytest.approx(8 / 255)
    assert parse_eps("0.1") == 0.1
    with pytest.raises(ValueError, match="must be a number"):
        parse_eps("abc")


def test_adversarial_run_records_ordered_metrics(tmp_path):
    args = [
        "run",
        "--task",
        "adversarial",
        "--loss",
        "hem",
        *QUICK,
        "--task-option",
        "eps=0,0.05,0.1",
        "--task-option",
        "headline_eps=0.1",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    record = record_of(tmp_path)
    m = record["metrics"]
    assert record["headline"]["name"] == "robust_acc" and m["robust_acc"] == m["robust_acc/pgd/0.1"]
    assert m["robust_acc/pgd/0"] == pytest.approx(m["acc"])  # epsilon 0: clean accuracy
    assert m["robust_acc/fgsm/0"] == pytest.approx(m["acc"])
    for key, value in m.items():
        if key.startswith("robust_acc/"):
            assert value <= m["acc"] + 1e-9, key  # robust never exceeds clean
    assert m["robust_acc/pgd/0.1"] <= m["robust_acc/pgd/0.05"] + 0.02
    assert "robust_acc/autoattack/0.1" in m and m["robust_acc/autoattack/0.1"] <= 1.0
    assert record["attacks"]["autoattack"]["examples"] == 16
    assert record["attacks"]["norm"] == "linf"


def test_adversarial_training_and_l2(tmp_path):
    args = [
        "run",
        "--task",
        "adversarial",
        "--loss",
        "ce",
        "--max-epochs",
        "1",
        "--no-progress",
        "--task-option",
        "adv_train=pgd",
        "--task-option",
        "adv_train_steps=2",
        "--task-option",
        "norm=l2",
        "--task-option",
        "attacks=fgsm,pgd",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    record = record_of(tmp_path)
    assert record["attacks"]["adversarial_training"] == {"method": "pgd", "steps": 2, "eps": "1"}
    assert set(record["attacks"]["budgets"]) == {"0.5", "1", "2"}
    assert "robust_acc/pgd/1" in record["metrics"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("norm=l3", "norm must be one of linf, l2"),
        ("attacks=fgsm,cw", "unknown attack 'cw'"),
        ("eps=abc", "must be a number"),
        ("attacks=fgsm", "must include pgd"),
        ("adv_train=free", "adv_train must be 'pgd', 'trades' or empty; got 'free'"),
        ("trades_beta=-1", "trades_beta >= 0; got 7 and -1.0"),
    ],
)
def test_bad_attack_options(tmp_path, option, message, capsys):
    assert (
        main(
            [
                "run",
                "--task",
                "adversarial",
                "--max-epochs",
                "1",
                "--no-progress",
                "--task-option",
                option,
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert message in capsys.readouterr().err


def test_runs_on_mnist_format_data(tmp_path):
    write_mnist(tmp_path, "MNIST", sizes=(120, 40))
    args = [
        "run",
        "--task",
        "adversarial",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path),
        "--max-epochs",
        "1",
        "--no-progress",
        "--task-option",
        "attacks=fgsm,pgd",
        "--task-option",
        "pgd_steps=2",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    record = record_of(tmp_path / "out")
    assert record["dataset"] == "mnist" and record["model"] == "mnist-fast"
    assert set(record["attacks"]["budgets"]) == {"0.02", "0.04", "0.06", "0.1", "0.3"}
    assert record["metrics"]["robust_acc"] == record["metrics"]["robust_acc/pgd/0.06"]
    # no attack_subset: FGSM and PGD ran on the whole test set
    assert record["attacks"]["examples"] == {"size": 40, "of": 40, "seed": None}
