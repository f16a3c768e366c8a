"""The DataModule base (checks, shared attributes, the ignore label) and the DataModules that
serve a task's evaluation data: the OOD sets and the continual experiences."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from hem_bench.datamodules.base import IGNORE_INDEX, dataset_info, load_dataset
from hem_bench.datamodules.classification import ClassificationDataModule
from hem_bench.datamodules.continual import ContinualDataModule
from hem_bench.datamodules.datamodule import BaseDataModule
from hem_bench.datamodules.ood import OODDataModule
from hem_bench.datamodules.segmentation import SegmentationDataModule
from hem_bench.errors import ConfigError, UnknownNameError

MODULES = {"classification": ClassificationDataModule, "segmentation": SegmentationDataModule}
DATASET = {"classification": "digits", "segmentation": "digit-scenes"}
SCENES = {"scenes": {"train": 6, "val": 2, "test": 3}}


def test_both_datamodules_share_the_base():
    for cls in (*MODULES.values(), OODDataModule, ContinualDataModule):
        assert issubclass(cls, BaseDataModule)
    assert ClassificationDataModule.kind == "classification"
    assert SegmentationDataModule.kind == "segmentation"


@pytest.mark.parametrize("kind", sorted(MODULES))
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"val_fraction": 0.0},
            ConfigError,
            r"validation fraction must lie in \(0, 1\); got val_fraction=0.0",
        ),
        (
            {"val_fraction": 1.0},
            ConfigError,
            r"validation fraction must lie in \(0, 1\); got val_fraction=1.0",
        ),
        ({"batch_size": 0}, ConfigError, "batch sizes must be positive; got 0 and "),
        ({"eval_batch_size": -1}, ConfigError, "batch sizes must be positive; got .* and -1"),
        ({"dataset": "imagenet-z"}, UnknownNameError, "unknown dataset 'imagenet-z'"),
    ],
)
def test_the_constructor_checks_of_every_datamodule(kind, kwargs, error, message):
    with pytest.raises(error, match=message):
        MODULES[kind](**{"dataset": DATASET[kind], **kwargs})


def test_a_data_set_of_the_other_kind_names_the_accepted_ones():
    with pytest.raises(ConfigError) as caught:
        SegmentationDataModule("digits")
    assert str(caught.value) == (
        "dataset 'digits' is a classification data set; this task needs a segmentation data "
        "set (cityscapes, digit-scenes, mnist-scenes, voc)"
    )
    with pytest.raises(ConfigError, match="'digit-scenes' is a segmentation data set; this task "):
        ClassificationDataModule("digit-scenes")


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_attributes_that_need_the_data_ask_for_setup_first(kind):
    options = {"dataset_options": SCENES} if kind == "segmentation" else {}
    dm = MODULES[kind](DATASET[kind], **options)
    for name in ("class_names", "class_counts"):
        with pytest.raises(RuntimeError, match="call setup\\(\\) first"):
            getattr(dm, name)
    info = dataset_info(DATASET[kind])
    # known before loading: from the data set's registration
    assert dm.input_shape == info.input_shape and dm.num_classes == info.num_classes
    assert (dm.mean, dm.std) == (info.mean, info.std)
    dm.setup()
    raw = load_dataset(DATASET[kind], seed=0, **({"scenes": SCENES["scenes"]} if options else {}))
    assert dm.class_names == raw.class_names
    assert dm.input_shape == tuple(raw.train.images.shape[1:])
    assert len(dm.class_counts) == dm.num_classes


def test_from_config_reads_the_run_settings():
    config = SimpleNamespace(
        dataset="digits",
        data_dir=None,
        download=False,
        verify=False,
        seed=7,
        batch_size=16,
        eval_batch_size=64,
        crop_padding=2,
        flip=True,
    )
    dm = ClassificationDataModule.from_config(config, classes=[1, 2, 3])
    assert (dm.dataset, dm.seed, dm.batch_size, dm.eval_batch_size) == ("digits", 7, 16, 64)
    assert dm.verify is False and dm.classes == [1, 2, 3]
    assert (dm.augment.crop_padding, dm.augment.flip, dm.augment.seed) == (2, True, 7)
    config.dataset = "digit-scenes"
    seg = SegmentationDataModule.from_config(config, num_workers=1)
    assert (seg.num_workers, seg.augment.crop_padding, seg.seed) == (1, 2, 7)


def test_the_ignore_label_is_defined_once():
    import hem_bench.datamodules.segmentation as segmentation
    import hem_bench.datamodules.segmentation_sets as real
    import hem_bench.metrics.segmentation as metrics

    assert IGNORE_INDEX == 255
    assert segmentation.IGNORE_INDEX is IGNORE_INDEX and metrics.IGNORE_INDEX is IGNORE_INDEX
    assert real.IGNORE_INDEX is IGNORE_INDEX
    assert metrics.confusion_matrix_metric(3).ignore_index == IGNORE_INDEX
    # the augmentation pads masks with it
    masks = torch.zeros(1, 2, 2, dtype=torch.long)
    images = torch.zeros(1, 1, 2, 2)
    _, padded = segmentation.SegmentationAugment(crop_padding=2, seed=1)(images, masks, 0, 0)
    assert set(padded.unique().tolist()) <= {0, IGNORE_INDEX}


def test_the_runner_gives_segmentation_losses_the_ignore_label():
    from hem_bench.config import RunConfig
    from hem_bench.runner import build_loss

    config = RunConfig(task="segmentation", loss="focal").resolve()
    assert build_loss(config, None).ignore_index == IGNORE_INDEX


# --- the OOD sets --------------------------------------------------------------------------


def test_ood_sets_are_checked_when_the_datamodule_is_made():
    with pytest.raises(ConfigError, match="noise_count must be a positive number of images; got 0"):
        OODDataModule("digits", open_set_known=0, noise_count=0)
    with pytest.raises(UnknownNameError, match="unknown dataset 'imagenet-z'"):
        OODDataModule("digits", open_set_known=0, extra_ood_sets=["imagenet-z"])
    with pytest.raises(ConfigError, match="OOD set 'digit-scenes' must be an image classification"):
        OODDataModule("digits", open_set_known=0, extra_ood_sets=["digit-scenes"])
    with pytest.raises(ConfigError, match="OOD set 'digits' is the in-distribution data set"):
        OODDataModule("digits", open_set_known=0, extra_ood_sets=["digits"])


def test_ood_sets_after_setup():
    dm = OODDataModule("digits", seed=3, open_set_known=0, noise_count=20)
    with pytest.raises(RuntimeError, match="call setup\\(\\) first"):
        dm.ood_sets  # noqa: B018
    dm.setup()
    assert dm._ood_sets is None  # made on first access
    assert list(dm.ood_sets) == ["unknown", "gaussian", "uniform"]
    # the unknown set: the test images of the classes the open-set split left out
    raw = load_dataset("digits", seed=3)
    left_out = ~torch.isin(raw.test.labels, torch.tensor(dm.classes))
    assert len(dm.classes) == 6
    assert torch.equal(dm.ood_sets["unknown"].images, raw.test.images[left_out])
    # noise drawn from the seed (Gaussian: seed, uniform: seed + 1), in the input shape
    shape = (20, *dm.input_shape)
    gaussian = (torch.randn(shape, generator=torch.Generator().manual_seed(3)) + 0.5).clamp(0, 1)
    uniform = torch.rand(shape, generator=torch.Generator().manual_seed(4))
    assert torch.equal(dm.ood_sets["gaussian"].images, gaussian)
    assert torch.equal(dm.ood_sets["uniform"].images, uniform)
    for data in dm.ood_sets.values():
        assert data.labels.unique().tolist() == [-1]


def test_extra_ood_sets_are_fetched_by_prepare_data_and_read_by_setup(tmp_path, monkeypatch):
    import hem_bench.datamodules.ood as ood
    from tests.datamodules.test_real_formats import write_mnist

    written = write_mnist(tmp_path, "FashionMNIST", sizes=(5, 4))
    calls = []
    real_load = ood.load_dataset

    def load(name, data_dir, download, **kwargs):
        calls.append((name, download))
        return real_load(name, data_dir, False, **kwargs)

    monkeypatch.setattr(ood, "load_dataset", load)
    dm = OODDataModule(
        "digits",
        data_dir=tmp_path,
        download=True,
        verify=False,
        open_set_known=0,
        noise_count=2,
        extra_ood_sets=["fashion-mnist"],
    )
    dm.prepare_data()
    dm.setup()
    assert calls == [("fashion-mnist", True)]  # not read until the OOD sets are asked for
    assert list(dm.ood_sets) == ["unknown", "gaussian", "uniform", "fashion-mnist"]
    assert calls == [("fashion-mnist", True), ("fashion-mnist", False)]
    extra = dm.ood_sets["fashion-mnist"].images
    assert extra.shape == (4, 1, 8, 8)
    # the 28x28 test images, area-averaged to the digits' 8x8
    reference = torch.nn.functional.adaptive_avg_pool2d(
        torch.as_tensor(written["t10k"][0]).float().div(255).unsqueeze(1), (8, 8)
    )
    torch.testing.assert_close(extra, reference)


# --- the continual experiences -------------------------------------------------------------


def test_experiences_are_fixed_when_the_datamodule_is_made():
    natural = ContinualDataModule("digits", num_experiences=5)
    assert natural.experiences == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    shuffled = ContinualDataModule("digits", seed=2, num_experiences=2, shuffle_classes=True)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(2)).tolist()
    assert shuffled.experiences == [order[:5], order[5:]]
    with pytest.raises(ConfigError, match="10 classes do not divide into 3 experiences"):
        ContinualDataModule("digits", num_experiences=3)


def test_one_experience_at_a_time_and_the_test_sets_seen_so_far():
    dm = ContinualDataModule("digits", seed=1, num_experiences=5)
    dm.setup()
    whole_train, whole_val, test = dm.train_set, dm.val_set, dm.test_set
    counts = dm.class_counts
    assert counts == torch.bincount(whole_train.labels, minlength=10).tolist()
    assert dm.seen_test_sets() == {}
    dm.use_experience(2)
    for part, whole in ((dm.train_set, whole_train), (dm.val_set, whole_val)):
        keep = (whole.labels == 4) | (whole.labels == 5)
        assert torch.equal(part.labels, whole.labels[keep])  # labels over all classes
        assert torch.equal(part.images, whole.images[keep])
    seen = dm.seen_test_sets()
    assert list(seen) == ["experience/0", "experience/1", "experience/2"]
    for i, data in enumerate(seen.values()):
        keep = (test.labels == 2 * i) | (test.labels == 2 * i + 1)
        assert torch.equal(data.labels, test.labels[keep])
    dm.use_experience(4)  # from the whole sets again, not from experience 2's
    assert sorted(dm.train_set.labels.unique().tolist()) == [8, 9]
    assert len(dm.seen_test_sets()) == 5
