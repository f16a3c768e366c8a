"""The segmentation task: metrics, ignored pixels, the smp model builder, the DataModule, and
runs through the real command line on the digit scenes and on tiny Cityscapes and VOC
folders (written by the fixture writers of ``tests/datamodules/test_real_formats.py``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hem_bench.cli import main
from hem_bench.datamodules.segmentation import (
    SegmentationAugment,
    SegmentationDataModule,
    parse_scenes,
    pixel_counts,
)
from hem_bench.errors import ConfigError, DataNotFoundError
from hem_bench.losses import get_loss
from hem_bench.metrics.segmentation import confusion_matrix_metric, segmentation_metrics
from hem_bench.models.classifier import Normalize
from hem_bench.models.segmentation import (
    build_segmenter,
    check_segmenter_name,
    parse_segmenter_name,
)
from hem_bench.tasks import get_task
from tests.datamodules.test_real_formats import block_labels, write_cityscapes, write_voc

#: a small run of the default recipe: fewer scenes, one epoch
SMALL = ["--max-epochs", "1", "--no-progress", "--task-option", "scenes=train=64,val=16,test=32"]


# --- metrics ---------------------------------------------------------------------------


def test_metrics_from_a_hand_computed_confusion_matrix():
    # rows: target, columns: prediction; class 3 is neither in the target nor predicted
    confmat = torch.tensor([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]])
    m = segmentation_metrics(confmat)
    iou = [5 / (5 + 2 + 1), 3 / (3 + 1 + 3), 4 / (4 + 1 + 0)]
    assert m["miou"] == pytest.approx(sum(iou) / 3)  # class 3 does not count
    assert m["pixel_acc"] == pytest.approx(12 / 16)
    assert m["mean_class_acc"] == pytest.approx((5 / 6 + 3 / 6 + 4 / 4) / 3)
    assert m["dice"] == pytest.approx((10 / 13 + 6 / 10 + 8 / 9) / 3)
    assert [m[f"iou/{c}"] for c in range(3)] == pytest.approx(iou)
    assert "iou/3" not in m


def test_a_class_only_predicted_counts_in_miou_not_in_class_accuracy():
    confmat = torch.tensor([[3, 1], [0, 0]])  # class 1 predicted once, never in the target
    m = segmentation_metrics(confmat)
    assert m["iou/1"] == 0.0 and m["miou"] == pytest.approx((3 / 4 + 0) / 2)
    assert m["mean_class_acc"] == pytest.approx(3 / 4)
    assert m["dice"] == pytest.approx((6 / 7 + 0) / 2)
    with pytest.raises(ValueError, match="no pixel"):
        segmentation_metrics(torch.zeros(3, 3))


def _confusion(preds: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    metric = confusion_matrix_metric(num_classes)
    metric.update(preds, target)
    return metric.compute()


def test_ignored_pixels_change_no_metric_and_a_perfect_prediction_scores_one():
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (2, 8, 8), generator=gen)
    target[:, :2] = 255
    preds = torch.randint(0, 5, (2, 8, 8), generator=gen)
    other = preds.clone()
    other[:, :2] = (preds[:, :2] + 1) % 5  # different predictions at ignored pixels only
    first = _confusion(preds, target, 5)
    assert first.sum() == 2 * 6 * 8
    assert torch.equal(first, _confusion(other, target, 5))
    assert segmentation_metrics(first) == segmentation_metrics(_confusion(other, target, 5))

    perfect = target.clone()
    perfect[target == 255] = 3  # whatever is predicted where the target is ignored
    m = segmentation_metrics(_confusion(perfect, target, 5))
    for key in ("miou", "pixel_acc", "mean_class_acc", "dice"):
        assert m[key] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["ce", "hem", "dice", "focal", "hem-plus"])
def test_losses_ignore_pixels_labelled_255(name):
    gen = torch.Generator().manual_seed(1)
    target = torch.randint(0, 4, (2, 6, 6), generator=gen)
    target[:, :, :2] = 255
    params = {"class_counts": [10, 20, 30, 40]} if name == "hem-plus" else {}
    loss = get_loss(name, ignore_index=255, **params)
    logits = torch.randn(2, 4, 6, 6, generator=gen, requires_grad=True)
    changed = logits.detach().clone()
    changed[:, :, :, :2] = 100 * torch.randn(2, 4, 6, 2, generator=gen)
    changed.requires_grad_(True)
    value, other = loss(logits, target), loss(changed, target)
    assert torch.isfinite(value) and value.item() == pytest.approx(other.item(), abs=1e-6)
    value.backward()
    other.backward()
    assert (logits.grad[:, :, :, :2] == 0).all()
    assert torch.allclose(logits.grad, changed.grad, atol=1e-6)


# --- the model builder -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["smp/unet:resnet18", "smp/deeplabv3plus:resnet18", "smp/fpn:resnet18"],
)
def test_segmenters_give_logits_at_the_input_size(name):
    torch.manual_seed(0)
    model = build_segmenter(name, 5, (3, 40, 56), (0.4, 0.5, 0.6), (0.2, 0.3, 0.4)).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 40, 56)).shape == (2, 5, 40, 56)  # padded, cropped back
    assert model.head.out_channels == 5


def test_normalisation_is_the_first_layer_and_options_reach_smp():
    name = "smp/unet:resnet18:encoder_depth=3:decoder_channels=32-16-8"
    assert parse_segmenter_name(name) == (
        "unet",
        "resnet18",
        {"encoder_depth": 3, "decoder_channels": (32, 16, 8)},
    )
    model = build_segmenter(name, 11, (1, 32, 32), (0.3,), (0.5,)).eval()
    first = next(iter(model.children()))
    assert isinstance(first, Normalize)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net((x - 0.3) / 0.5), atol=1e-6)
    assert len(model.net.decoder.blocks) == 3
    model.set_output_bias(-2.0)
    assert (model.head.bias == -2.0).all()


def test_the_small_unet_gradients_equal_those_in_contiguous_memory():
    """Channels-last training (with its channels-last upsampling gradient) gives the same
    gradients as the same weights run in the default layout."""
    import copy

    torch.manual_seed(0)
    model = build_segmenter("small-unet", 11, (1, 32, 32), (0.3,), (0.5,))
    assert model.channels_last
    plain = copy.deepcopy(model)
    plain.channels_last = False
    plain.net = plain.net.to(memory_format=torch.contiguous_format)
    x = torch.rand(4, 1, 32, 32)
    target = torch.randint(0, 11, (4, 32, 32))
    for net in (model, plain):
        F.cross_entropy(net(x), target).backward()
    pairs = list(zip(model.parameters(), plain.parameters(), strict=True))
    assert len(pairs) > 20
    for fast, slow in pairs:
        assert torch.allclose(fast.grad, slow.grad, rtol=1e-4, atol=1e-6)


def test_the_small_unet_matches_its_layers_composed_by_hand():
    """The built-in U-Net (the digit scenes' default): logits at any input size, the same as
    its blocks composed step by step in contiguous memory (channels-last changes nothing but
    speed), and a width option."""
    torch.manual_seed(0)
    model = build_segmenter("small-unet", 11, (1, 30, 30), (0.3,), (0.5,)).eval()
    x = torch.rand(2, 1, 30, 30)
    net = model.net
    with torch.no_grad():
        e1 = net.enc1((x - 0.3) / 0.5)
        e2 = net.enc2(e1)
        e3 = net.enc3(e2)
        e4 = net.enc4(e3)
        assert [t.shape[-1] for t in (e1, e2, e3, e4)] == [30, 15, 8, 4]

        def up(t, skip):
            size = skip.shape[-2:]
            return torch.cat([F.interpolate(t, size=size, mode="bilinear"), skip], 1)

        d = net.dec1(up(net.dec2(up(net.dec3(up(e4, e3)), e2)), e1))
        expected = net.segmentation_head(d)
        logits = model(x)
    assert logits.shape == (2, 11, 30, 30) and logits.is_contiguous()
    assert torch.allclose(logits, expected, atol=1e-5)
    assert model.head.out_channels == 11 and model.head.in_channels == 16
    wide = build_segmenter("small-unet:width=8", 3, (1, 16, 16), (0.0,), (1.0,))
    assert wide.head.in_channels == 8
    check_segmenter_name("small-unet:width=24")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("small-unet:depth=3", "small-unet:width=N"),
        ("small-unet:width=0", "positive integer"),
        ("unet", "smp/<arch>:<encoder>"),
        ("smp/unett:resnet18", "Accepted: unet, unetplusplus, fpn, deeplabv3, deeplabv3plus"),
        ("smp/deeplabv3+:resnet18", "deeplabv3plus"),
        ("smp/unet", "names no encoder"),
        ("smp/unet:resnet19", "Did you mean 'resnet18'"),
        ("smp/unet:tu-no_such_net", "timm has no model"),
        ("smp/unet:resnet18:depth=3", "Did you mean 'encoder_depth'"),
        ("smp/unet:resnet18:encoder_depth", "key=value"),
    ],
)
def test_bad_segmenter_names(name, message):
    with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
        check_segmenter_name(name)


def test_inconsistent_options_and_classification_settings_are_config_errors():
    with pytest.raises(ConfigError, match="cannot be built"):
        build_segmenter("smp/unet:resnet18:encoder_depth=3", 3, (1, 32, 32), (0.5,), (0.5,))
    with pytest.raises(ConfigError, match="classification models only"):
        build_segmenter("smp/unet:resnet18", 3, (1, 32, 32), (0.5,), (0.5,), head="cosine")
    with pytest.raises(ConfigError, match="classification models only"):
        build_segmenter("smp/unet:resnet18", 3, (1, 32, 32), (0.5,), (0.5,), dropout=0.1)


# --- the DataModule --------------------------------------------------------------------


def test_digit_scenes_datamodule_counts_pixels():
    data = SegmentationDataModule(dataset_options={"scenes": {"train": 12, "val": 3, "test": 4}})
    data.setup()
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (12, 3, 4)
    assert data.num_classes == 11 and data.input_shape == (1, 32, 32)
    assert data.class_names[0] == "background" and len(data.class_names) == 11
    counts = data.class_counts
    assert sum(counts) == 12 * 32 * 32  # pixels, not scenes
    assert counts == torch.bincount(data.train_set.labels.flatten(), minlength=11).tolist()
    masks = torch.tensor([[[0, 1], [255, 1]]])
    assert pixel_counts(masks, 3).tolist() == [1, 2, 0]
    assert parse_scenes("train=5, test=7") == {"train": 5, "test": 7}
    with pytest.raises(ConfigError, match="train=400"):
        parse_scenes("5")


def test_bad_data_for_the_segmentation_datamodule(tmp_path):
    with pytest.raises(ConfigError, match="needs a segmentation data set"):
        SegmentationDataModule("digits")
    with pytest.raises(DataNotFoundError, match="VOCdevkit"):
        SegmentationDataModule("voc", data_dir=tmp_path).setup()
    with pytest.raises(ConfigError, match="--data-dir"):
        SegmentationDataModule("cityscapes").setup()
    write_cityscapes(tmp_path, block_labels())  # one training image: nothing to hold out
    with pytest.raises(ConfigError, match="too few"):
        SegmentationDataModule("cityscapes", data_dir=tmp_path).setup()


def test_augmentation_moves_image_and_mask_together():
    images = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    masks = images[:, 0].long()
    for augment in (SegmentationAugment(flip=True), SegmentationAugment(crop_padding=1)):
        for step in range(4):
            out_images, out_masks = augment(images, masks, 0, step)
            kept = out_masks != 255
            assert torch.equal(out_images[:, 0][kept].long(), out_masks[kept])
            assert (out_images[:, 0][~kept] == 0).all()


# --- runs through the command line -----------------------------------------------------


def record_of(out: Path) -> dict:
    (path,) = out.glob("*/record.json")
    return json.loads(path.read_text())


def check_record(record: dict, dataset: str, num_classes: int) -> None:
    assert record["status"] == "completed" and record["task"] == "segmentation"
    assert record["dataset"] == dataset
    assert record["headline"]["name"] == "miou" and record["headline"]["higher_is_better"]
    metrics = record["metrics"]
    assert record["headline"]["value"] == metrics["miou"]
    for key in ("miou", "pixel_acc", "mean_class_acc", "dice"):
        assert 0.0 <= metrics[key] <= 1.0, key
    per_class = {k: v for k, v in metrics.items() if k.startswith("iou/")}
    assert per_class and all(0.0 <= v <= 1.0 for v in per_class.values())
    assert {int(k.split("/")[1]) for k in per_class} <= set(range(num_classes))
    assert metrics["miou"] == pytest.approx(sum(per_class.values()) / len(per_class))


@pytest.mark.parametrize("loss", ["hem", "dice", "hem-plus"])
def test_run_on_digit_scenes(tmp_path, loss):
    assert (
        main(["run", "--task", "segmentation", "--loss", loss, "--out", str(tmp_path), *SMALL]) == 0
    )
    record = record_of(tmp_path)
    check_record(record, "digit-scenes", 11)
    assert record["model"] == get_task("segmentation").recipe("digit-scenes").model
    assert record["config"]["task_options"]["scenes"] == "train=64,val=16,test=32"
    if loss == "hem":  # the same configuration and seed give the same metrics on the CPU
        args = ["run", "--task", "segmentation", "--loss", loss, "--out", str(tmp_path), "--force"]
        assert main([*args, *SMALL]) == 0
        assert record_of(tmp_path)["metrics"] == record["metrics"]


def test_class_counts_given_to_losses_are_pixel_counts():
    from hem_bench.config import RunConfig
    from hem_bench.runner import build_datamodule, build_loss

    config = RunConfig(
        task="segmentation", loss="hem-plus", task_options={"scenes": "train=16,val=2,test=2"}
    ).resolve()
    data = build_datamodule(config)
    data.setup("fit")
    loss = build_loss(config, data)
    expected = torch.bincount(data.train_set.labels.flatten(), minlength=11).double()
    assert torch.equal(loss.class_counts.double(), expected)
    assert loss.class_counts.sum().item() == 16 * 32 * 32
    assert loss.ignore_index == 255


def test_bad_input_exits_with_code_2(tmp_path, capsys):
    base = ["run", "--task", "segmentation", "--out", str(tmp_path), *SMALL]
    assert main([*base, "--dataset", "digits"]) == 2
    assert main([*base, "--model", "smp/unet:resnet19"]) == 2
    assert "resnet18" in capsys.readouterr().err
    assert main([*base, "--head", "cosine"]) == 2
    assert "classification models only" in capsys.readouterr().err
    assert main([*base, "--task-option", "scenes=lots"]) == 2
    assert main([*base, "--dataset", "voc", "--data-dir", str(tmp_path)]) == 2
    assert not list(tmp_path.glob("*/record.json"))


def _more_cityscapes_training_images(root: Path, copies: int) -> None:
    folder = root / "cityscapes"
    for image in list((folder / "leftImg8bit" / "train").rglob("*_leftImg8bit.png")):
        stem = image.name.removesuffix("_leftImg8bit.png")
        label = folder / "gtFine" / "train" / image.parent.name / f"{stem}_gtFine_labelIds.png"
        for k in range(1, copies + 1):
            new = stem.replace("000019", f"{k:06d}")
            shutil.copy(image, image.with_name(f"{new}_leftImg8bit.png"))
            shutil.copy(label, label.with_name(f"{new}_gtFine_labelIds.png"))


def test_run_on_cityscapes_files(tmp_path):
    write_cityscapes(tmp_path / "data", block_labels())
    _more_cityscapes_training_images(tmp_path / "data", 2)  # 3 training images
    args = ["--dataset", "cityscapes", "--data-dir", str(tmp_path / "data"), "--batch-size", "2"]
    args += ["--task-option", "size=16,32", "--max-epochs", "1", "--no-progress"]
    out = tmp_path / "out"
    assert main(["run", "--task", "segmentation", "--loss", "hem", "--out", str(out), *args]) == 0
    record = record_of(out)
    check_record(record, "cityscapes", 19)
    assert record["model"] == "smp/deeplabv3plus:resnet50"  # the recipe's model
    assert "iou/13" in record["metrics"]  # car, in the fixture's labels


def test_run_on_voc_files(tmp_path):
    write_voc(tmp_path / "data")  # two training images: one is held out for validation
    args = ["--dataset", "voc", "--data-dir", str(tmp_path / "data"), "--batch-size", "1"]
    args += ["--model", "smp/unet:resnet18:encoder_depth=3:decoder_channels=16-8-4"]
    args += ["--task-option", "size=16", "--max-epochs", "1", "--no-progress"]
    out = tmp_path / "out"
    assert main(["run", "--task", "segmentation", "--loss", "ce", "--out", str(out), *args]) == 0
    record = record_of(out)
    check_record(record, "voc", 21)
    assert set(record["metrics"]) >= {"iou/0", "iou/17"}  # background, the val image's object
