"""The real data sets, read from tiny files written here in each data set's on-disk format.

Nothing is downloaded: every test writes its files under ``tmp_path`` in the layout
torchvision expects, then loads them through :func:`load_dataset`, as the command line does.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from hem_bench.datamodules.base import dataset_info, load_dataset
from hem_bench.errors import ConfigError, DataNotFoundError

REAL = ["mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "svhn", "image-folder"]
REAL += ["cityscapes", "voc"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- MNIST family: IDX files -----------------------------------------------------------

MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


def idx_images(images: np.ndarray) -> bytes:
    """IDX3 bytes: magic 2051, count, rows, columns (big-endian), then the pixels."""
    return struct.pack(">IIII", 2051, *images.shape) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    """IDX1 bytes: magic 2049, count (big-endian), then the labels."""
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def write_mnist(root, folder: str, gz: bool = False, sizes=(7, 3)) -> dict:
    """The four IDX files in ``root/folder/raw`` (as ``.gz`` archives only, if ``gz``)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    written = {}
    for seed, (prefix, n) in enumerate(zip(("train", "t10k"), sizes)):
        images = rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng(seed + 10).integers(0, 10, n, dtype=np.uint8)
        for kind, payload in (
            ("images-idx3", idx_images(images)),
            ("labels-idx1", idx_labels(labels)),
        ):
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(payload))
            else:
                (raw / name).write_bytes(payload)
        written[prefix] = (images, labels)
    return written


@pytest.mark.parametrize("name", sorted(MNIST_FOLDERS))
def test_mnist_family_reads_idx_files(tmp_path, name):
    import torchvision.datasets as tvd

    written = write_mnist(tmp_path, MNIST_FOLDERS[name])
    data = load_dataset(name, data_dir=tmp_path)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = written[prefix]
        got = getattr(data, split)
        assert got.images.dtype == torch.uint8 and got.labels.dtype == torch.long
        assert got.images.shape == (len(images), 1, 28, 28)
        assert torch.equal(got.images[:, 0], torch.from_numpy(images))
        assert got.labels.tolist() == labels.tolist()
    assert data.val is None
    assert data.class_names == list(getattr(tvd, MNIST_FOLDERS[name]).classes)
    assert len(data.class_names) == 10
    assert dataset_info(name).folder == f"{MNIST_FOLDERS[name]}/raw"


def test_mnist_gz_archives_checked_then_read_in_memory(tmp_path):
    # the .gz archives are what torchvision downloads; they are read without writing anything
    written = write_mnist(tmp_path, "MNIST", gz=True)
    raw = tmp_path / "MNIST" / "raw"
    before = sorted(p.name for p in raw.iterdir())
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and "MD5" in message
    assert "--no-verify" in message

    data = load_dataset("mnist", data_dir=tmp_path, verify=False)
    assert torch.equal(data.train.images[:, 0], torch.from_numpy(written["train"][0]))
    assert data.test.labels.tolist() == written["t10k"][1].tolist()
    assert sorted(p.name for p in raw.iterdir()) == before  # nothing decompressed beside


def test_mnist_read_only_folder_mixed_files(tmp_path):
    # some files uncompressed, others only as archives, in a folder nobody may write to
    written = write_mnist(tmp_path, "MNIST", gz=True)
    raw = tmp_path / "MNIST" / "raw"
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(gzip.decompress((raw / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    raw.chmod(0o555)
    try:
        data = load_dataset("mnist", data_dir=tmp_path, verify=False)
    finally:
        raw.chmod(0o755)
    assert torch.equal(data.test.images[:, 0], torch.from_numpy(written["t10k"][0]))
    assert data.test.labels.tolist() == written["t10k"][1].tolist()
    assert data.notes["read_from_archives"] == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ]


def test_mnist_truncated_archive_is_a_clear_error(tmp_path):
    write_mnist(tmp_path, "MNIST", gz=True)
    archive = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    payload = gzip.decompress(archive.read_bytes())
    archive.write_bytes(gzip.compress(payload[:-5]))
    with pytest.raises(DataNotFoundError, match="could not read .*train-images-idx3-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path, verify=False)


def test_mnist_read_once_per_process(tmp_path, monkeypatch):
    from torchvision.datasets import mnist as tv_mnist

    write_mnist(tmp_path, "MNIST")
    first = load_dataset("mnist", data_dir=tmp_path)
    calls = []
    original = tv_mnist.read_image_file
    monkeypatch.setattr(tv_mnist, "read_image_file", lambda p: calls.append(p) or original(p))
    again = load_dataset("mnist", data_dir=tmp_path)
    assert calls == [] and again.train.images is first.train.images
    # a file changed on disk is read again
    images = rng(5).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    stat = path.stat()
    path.write_bytes(idx_images(images))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # whatever the clock's grain
    changed = load_dataset("mnist", data_dir=tmp_path)
    assert len(calls) == 2 and torch.equal(changed.train.images[:, 0], torch.from_numpy(images))


def test_mnist_gz_archives_with_torchvision_sums_pass_verify(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    written = write_mnist(tmp_path, "KMNIST", gz=True)
    raw = tmp_path / "KMNIST" / "raw"
    sums = [(url, md5(raw / url.rsplit("/", 1)[-1])) for url, _ in tvd.KMNIST.resources]
    monkeypatch.setattr(tvd.KMNIST, "resources", sums)
    data = load_dataset("kmnist", data_dir=tmp_path)  # verify=True
    assert data.train.labels.tolist() == written["train"][1].tolist()


def test_mnist_legacy_processed_files(tmp_path):
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir(parents=True)
    images = torch.from_numpy(rng(3).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    labels = torch.tensor([3, 1, 4, 1])
    for file in ("training.pt", "test.pt"):
        torch.save((images, labels), processed / file)
    data = load_dataset("mnist", data_dir=tmp_path)
    assert torch.equal(data.train.images[:, 0], images)
    assert data.test.labels.tolist() == [3, 1, 4, 1]


def test_mnist_corrupt_file_is_a_clear_error(tmp_path):
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\0\0\0\0 not idx")
    with pytest.raises(DataNotFoundError, match="could not read"):
        load_dataset("mnist", data_dir=tmp_path)


# --- CIFAR: Python 2 pickles -----------------------------------------------------------


class Py2Pickler(pickle._Pickler):
    """Pickles ``bytes`` as Python 2 ``str`` (SHORT_BINSTRING / BINSTRING), as in the real
    CIFAR files, which were written by Python 2: they load as ``bytes`` with
    ``encoding="bytes"`` (the keys b"data", b"labels" the CIFAR page shows) and as ``str``
    with ``encoding="latin1"`` (how torchvision reads them)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_py2_pickle(path, obj) -> None:
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)


def cifar_rows(n: int, seed: int) -> np.ndarray:
    """``n`` images as CIFAR rows: 1024 red, 1024 green, 1024 blue values, row-major."""
    return rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def write_cifar10(root, per_batch: int = 2) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    written = {"train": [], "test": []}
    for i, file in enumerate([*(f"data_batch_{b}" for b in range(1, 6)), "test_batch"]):
        data = cifar_rows(per_batch, i)
        labels = [int(v) for v in rng(i + 50).integers(0, 10, per_batch)]
        batch = {
            b"batch_label": f"batch {i + 1}".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}_{k}.png".encode() for k in range(per_batch)],
        }
        write_py2_pickle(folder / file, batch)
        written["test" if file == "test_batch" else "train"].append((data, labels))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    meta = {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072}
    write_py2_pickle(folder / "batches.meta", meta)
    return {
        split: (np.concatenate([d for d, _ in parts]), sum((lab for _, lab in parts), []))
        for split, parts in written.items()
    }


def test_cifar10_pickles_like_the_real_files(tmp_path):
    write_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        as_bytes = pickle.load(f, encoding="bytes")  # the CIFAR page's recipe
    assert {b"data", b"labels", b"batch_label", b"filenames"} == set(as_bytes)


def test_cifar10_md5_check_and_no_verify(tmp_path):
    written = write_cifar10(tmp_path)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("cifar10", data_dir=tmp_path)  # verify=True by default
    message = str(error.value)
    assert "data_batch_1" in message and "MD5" in message and "--no-verify" in message
    assert "cifar10" in message

    data = load_dataset("cifar10", data_dir=tmp_path, verify=False)
    for split in ("train", "test"):
        rows, labels = written[split]
        got = getattr(data, split)
        assert got.images.dtype == torch.uint8
        assert got.images.shape == (len(rows), 3, 32, 32)
        # a row holds the red plane, then green, then blue, each row-major 32x32
        assert torch.equal(got.images, torch.from_numpy(rows).reshape(-1, 3, 32, 32))
        assert got.labels.tolist() == labels
    # spelt out for one pixel: channel c of pixel (h, w) is row[c * 1024 + h * 32 + w]
    row = written["train"][0][0]
    for c, h, w in ((0, 0, 0), (1, 0, 5), (2, 7, 3), (0, 31, 30)):
        assert int(data.train.images[0, c, h, w]) == int(row[c * 1024 + h * 32 + w])
    assert data.class_names[0] == "airplane" and data.class_names[9] == "truck"
    assert data.notes["checksums"] == "skipped"


def test_cifar10_files_with_matching_sums_pass_verify(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    written = write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    cls = tvd.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f, md5(folder / f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5(folder / f)] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(folder / "batches.meta")})
    data = load_dataset("cifar10", data_dir=tmp_path)
    assert data.test.labels.tolist() == written["test"][1]
    assert data.notes["checksums"] == "md5 checked"


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    written = {}
    for seed, split in enumerate(("train", "test")):
        rows = cifar_rows(3, seed)
        fine = [int(v) for v in rng(seed + 7).integers(0, 100, 3)]
        batch = {
            b"filenames": [b"a.png", b"b.png", b"c.png"],
            b"batch_label": f"{split}ing batch 1 of 1".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": rows,
        }
        write_py2_pickle(folder / split, batch)
        written[split] = (rows, fine)
    fine_names = [f"class{i:02d}".encode() for i in range(100)]
    coarse_names = [f"super{i:02d}".encode() for i in range(20)]
    write_py2_pickle(
        folder / "meta", {b"fine_label_names": fine_names, b"coarse_label_names": coarse_names}
    )
    with pytest.raises(DataNotFoundError, match=r"meta|train|test"):
        load_dataset("cifar100", data_dir=tmp_path)
    data = load_dataset("cifar100", data_dir=tmp_path, verify=False)
    for split in ("train", "test"):
        rows, fine = written[split]
        got = getattr(data, split)
        assert torch.equal(got.images, torch.from_numpy(rows).reshape(-1, 3, 32, 32))
        assert got.labels.tolist() == fine
    assert len(data.class_names) == 100 and data.class_names[42] == "class42"


# --- SVHN: MATLAB files ----------------------------------------------------------------


def write_svhn(root) -> dict:
    from scipy.io import savemat

    folder = root / "svhn"
    folder.mkdir()
    written = {}
    for seed, split in enumerate(("train", "test")):
        n = 4 + seed
        x = rng(seed).integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # H, W, C, N
        y = np.array([[10], [1], [9], [10], [5]][:n], dtype=np.uint8)  # 10 is the digit 0
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        written[split] = (x, y[:, 0])
    return written


def test_svhn_mat_files(tmp_path):
    written = write_svhn(tmp_path)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("svhn", data_dir=tmp_path)
    assert "train_32x32.mat" in str(error.value) and "--no-verify" in str(error.value)

    data = load_dataset("svhn", data_dir=tmp_path, verify=False)
    for split in ("train", "test"):
        x, y = written[split]
        got = getattr(data, split)
        assert got.images.dtype == torch.uint8
        assert got.images.shape == (x.shape[3], 3, 32, 32)
        assert torch.equal(got.images, torch.from_numpy(x).permute(3, 2, 0, 1))
        assert got.labels.tolist() == [0 if v == 10 else int(v) for v in y]
    assert data.train.labels.tolist() == [0, 1, 9, 0]
    assert data.class_names == [str(d) for d in range(10)]


# --- Cityscapes: PNG files in leftImg8bit/ and gtFine/ ---------------------------------


def write_cityscapes(root, label_ids: np.ndarray, colour=(10, 120, 250)) -> None:
    """One train and one val image (16x32) with the fine label ids ``label_ids``."""
    base = root / "cityscapes"
    for split, city in (("train", "aachen"), ("val", "frankfurt")):
        stem = f"{city}_000000_000019"
        images = base / "leftImg8bit" / split / city
        labels = base / "gtFine" / split / city
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        pixels = np.empty((16, 32, 3), dtype=np.uint8)
        pixels[:] = colour
        pixels[0, 0] = (255, 0, 0)
        Image.fromarray(pixels).save(images / f"{stem}_leftImg8bit.png")
        Image.fromarray(label_ids.astype(np.uint8), mode="L").save(
            labels / f"{stem}_gtFine_labelIds.png"
        )
        # the other fine annotation files: not needed for target_type="semantic"
        Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(labels / f"{stem}_gtFine_color.png")


def block_labels() -> np.ndarray:
    """16x32 label ids in 2x2 blocks: a nearest-neighbour halving keeps every block."""
    blocks = rng(5).choice([0, 7, 8, 11, 26, 33, 1, 9, 14, 29], size=(8, 16))
    blocks[0, 0], blocks[0, 1], blocks[1, 0] = 7, 26, 0
    return np.kron(blocks, np.ones((2, 2), dtype=np.int64))


def test_cityscapes_train_ids_and_nearest_resize(tmp_path):
    import torchvision.datasets as tvd

    ids = block_labels()
    write_cityscapes(tmp_path, ids)
    official = {c.id: c.train_id for c in tvd.Cityscapes.classes}
    expected = np.vectorize(lambda i: official[i] if 0 <= official[i] < 19 else 255)(ids)

    data = load_dataset("cityscapes", data_dir=tmp_path, size=(16, 32))
    assert len(data.train) == 1 and len(data.test) == 1
    image, mask = data.train[0]
    assert image.dtype == torch.float32 and image.shape == (3, 16, 32)
    assert mask.dtype == torch.long and mask.shape == (16, 32)
    assert mask[0, 0] == 0 and mask[0, 2] == 13 and mask[2, 0] == 255  # road, car, unlabeled
    assert torch.equal(mask, torch.from_numpy(expected))
    assert set(mask.unique().tolist()) <= {*range(19), 255}
    assert torch.allclose(image[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(image[:, 5, 5], torch.tensor([10, 120, 250]) / 255.0)

    half = load_dataset("cityscapes", data_dir=tmp_path, size=(8, 16))
    image, mask = half.test[0]
    assert image.shape == (3, 8, 16) and image.min() >= 0.0 and image.max() <= 1.0
    assert torch.equal(mask, torch.from_numpy(expected[::2, ::2]))

    assert len(data.class_names) == 19
    assert data.class_names[0] == "road" and data.class_names[13] == "car"
    assert data.class_names[18] == "bicycle"


def test_cityscapes_default_size_and_missing_labels(tmp_path):
    write_cityscapes(tmp_path, block_labels())
    image, mask = load_dataset("cityscapes", data_dir=tmp_path).train[0]
    assert image.shape == (3, 256, 512) and mask.shape == (256, 512)
    # each 2x2 block became a 32x32 block
    assert mask[0, 0] == 0 and mask[0, 32] == 13 and mask[32, 0] == 255 and mask[31, 31] == 0

    for label in (tmp_path / "cityscapes" / "gtFine" / "val").rglob("*_labelIds.png"):
        label.unlink()
    with pytest.raises(DataNotFoundError, match="frankfurt_000000_000019_gtFine_labelIds.png"):
        load_dataset("cityscapes", data_dir=tmp_path)


def test_cityscapes_and_image_folder_cannot_download(tmp_path):
    with pytest.raises(ConfigError, match="cityscapes-dataset.com"):
        load_dataset("cityscapes", data_dir=tmp_path, download=True)
    with pytest.raises(ConfigError, match="cannot be downloaded"):
        load_dataset("image-folder", data_dir=tmp_path, download=True)


# --- PASCAL VOC: JPEG images, palette PNG masks, image-set lists -----------------------


def voc_palette() -> list[int]:
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def write_voc(root) -> dict:
    """Two train and one val pair; images 8x16 (H x W) of one colour each."""
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True)
    written = {}
    splits = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]}
    for k, stem in enumerate(name for names in splits.values() for name in names):
        colour = (40 * k + 20, 200 - 30 * k, 90)
        Image.new("RGB", (16, 8), colour).save(base / "JPEGImages" / f"{stem}.jpg", quality=95)
        mask = np.zeros((8, 16), dtype=np.uint8)
        mask[2:6, 4:12] = 15 + k  # an object ...
        mask[1, 3:13] = mask[6, 3:13] = 255  # ... with its boundary
        png = Image.fromarray(mask, mode="P")
        png.putpalette(voc_palette())
        png.save(base / "SegmentationClass" / f"{stem}.png")
        written[stem] = (colour, mask)
    for split, names in splits.items():
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return written


def test_voc_palette_masks_resized(tmp_path):
    written = write_voc(tmp_path)
    assert Image.open(tmp_path / "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png").mode == "P"
    data = load_dataset("voc", data_dir=tmp_path, size=(16, 32))
    assert len(data.train) == 2 and len(data.test) == 1
    assert data.class_names[0] == "background" and data.class_names[15] == "person"
    assert len(data.class_names) == 21
    for dataset, stems in (
        (data.train, ["2007_000032", "2007_000039"]),
        (data.test, ["2007_000033"]),
    ):
        for i, stem in enumerate(stems):
            colour, mask = written[stem]
            image, got = dataset[i]
            assert image.dtype == torch.float32 and image.shape == (3, 16, 32)
            assert got.dtype == torch.long and got.shape == (16, 32)
            # doubled by nearest neighbour: every label kept, 255 boundaries included
            assert torch.equal(got, torch.from_numpy(np.kron(mask, np.ones((2, 2)))).long())
            assert 255 in got.tolist()[2]
            # a one-colour JPEG stays that colour (up to compression)
            assert torch.allclose(image[:, 8, 16], torch.tensor(colour) / 255.0, atol=3 / 255)

    image, mask = load_dataset("voc", data_dir=tmp_path).train[0]  # default 256x256, stretched
    assert image.shape == (3, 256, 256) and mask.shape == (256, 256)
    assert mask[128, 128] == 15 and mask[0, 0] == 0


def test_voc_keep_aspect_pads_with_ignore(tmp_path):
    written = write_voc(tmp_path)
    data = load_dataset("voc", data_dir=tmp_path, size=16, keep_aspect=True)
    image, mask = data.train[0]
    # 8x16 fits 16x16 unscaled: rows 4..11 hold it, the rest is padding
    assert torch.equal(mask[4:12], torch.from_numpy(written["2007_000032"][1]).long())
    assert (mask[:4] == 255).all() and (mask[12:] == 255).all()
    assert (image[:, :4] == 0).all() and (image[:, 12:] == 0).all()
    assert image[:, 4:12].min() > 0


# --- image folders and Tiny ImageNet ---------------------------------------------------


def test_image_folder_tree(tmp_path):
    root = tmp_path / "image-folder"
    pictures = {}
    for split, counts in (("train", {"cat": 2, "dog": 1, "eel": 1}), ("val", {"dog": 1, "eel": 2})):
        for cls, count in counts.items():
            (root / split / cls).mkdir(parents=True)
            for k in range(count):
                pixels = rng(len(pictures)).integers(0, 256, (8, 8, 3), dtype=np.uint8)
                path = root / split / cls / f"{cls}{k}.png"
                Image.fromarray(pixels).save(path)
                pictures[path] = pixels
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    Image.fromarray(grey, mode="L").save(root / "train" / "dog" / "grey.png")
    Image.new("RGB", (20, 12), (7, 8, 9)).save(root / "val" / "eel" / "large.png")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")

    data = load_dataset("image-folder", data_dir=tmp_path, image_size=8)
    assert data.class_names == ["cat", "dog", "eel"]
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape == (5, 3, 8, 8)
    # ImageFolder's order: class by class, files sorted
    assert data.train.labels.tolist() == [0, 0, 1, 1, 2]
    first = pictures[root / "train" / "cat" / "cat0.png"]
    assert torch.equal(data.train.images[0], torch.from_numpy(first).permute(2, 0, 1))
    for channel in range(3):  # grey converted to RGB
        assert torch.equal(data.train.images[3, channel], torch.from_numpy(grey))
    # val lacks "cat": its labels still index the training classes
    assert data.test.labels.tolist() == [1, 2, 2, 2]
    assert data.test.images.shape == (4, 3, 8, 8)
    assert data.test.images[3, :, 4, 4].tolist() == [7, 8, 9]  # resized from 20x12

    resized = load_dataset("image-folder", data_dir=tmp_path, image_size=4)
    assert resized.train.images.shape == (5, 3, 4, 4)


def test_image_folder_test_subfolder_and_unknown_class(tmp_path):
    root = tmp_path / "pets"
    for split, cls in (("train", "a"), ("test", "a"), ("test", "b")):
        (root / split / cls).mkdir(parents=True)
        Image.new("RGB", (4, 4), (1, 2, 3)).save(root / split / cls / "x.png")
    with pytest.raises(ConfigError, match="classes that .* lacks: b"):
        load_dataset("image-folder", data_dir=tmp_path, folder="pets", image_size=4)
    (root / "test" / "b" / "x.png").unlink()
    (root / "test" / "b").rmdir()
    data = load_dataset("image-folder", data_dir=tmp_path, folder="pets", image_size=4)
    assert data.notes["test_folder"] == "test" and data.test.labels.tolist() == [0]
    assert data.test.images[0, :, 0, 0].tolist() == [1, 2, 3]


def test_image_folder_many_images_read_in_parallel(tmp_path):
    root = tmp_path / "image-folder"
    for split in ("train", "val"):
        for cls in ("p", "q"):
            (root / split / cls).mkdir(parents=True)
    for k in range(80):  # enough for the thread pool
        cls = "pq"[k % 2]
        Image.new("RGB", (4, 4), (k, 2 * k, 255 - k)).save(root / "train" / cls / f"{k:03d}.png")
    Image.new("RGB", (4, 4), (9, 9, 9)).save(root / "val" / "q" / "v.png")
    data = load_dataset("image-folder", data_dir=tmp_path, image_size=4)
    order = [k for k in range(0, 80, 2)] + [k for k in range(1, 80, 2)]
    assert data.train.labels.tolist() == [0] * 40 + [1] * 40
    assert data.train.images[:, :, 3, 3].tolist() == [[k, 2 * k, 255 - k] for k in order]


def test_tiny_imagenet_layout(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819"]
    colours = {wnids[0]: (200, 30, 40), wnids[1]: (20, 60, 220)}
    for wnid in wnids:
        images = root / "train" / wnid / "images"
        images.mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (64, 64), colours[wnid]).save(images / f"{wnid}_{k}.JPEG")
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t63\t63\n")
    (root / "val" / "images").mkdir(parents=True)
    val_labels = [wnids[1], wnids[0], wnids[1]]
    lines = []
    for k, wnid in enumerate(val_labels):
        Image.new("RGB", (64, 64), colours[wnid]).save(root / "val" / "images" / f"val_{k}.JPEG")
        lines.append(f"val_{k}.JPEG\t{wnid}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "test" / "images").mkdir(parents=True)  # unlabelled in Tiny ImageNet: not used
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    words = "n00001740\tentity\nn01443537\tgoldfish, Carassius auratus\n"
    words += "n01629819\tEuropean fire salamander, Salamandra salamandra\n"
    (root / "words.txt").write_text(words)

    data = load_dataset("image-folder", data_dir=tmp_path, folder="tiny-imagenet-200")
    assert data.class_names == [
        "goldfish, Carassius auratus",
        "European fire salamander, Salamandra salamandra",
    ]
    assert data.notes["layout"] == "tiny-imagenet"
    assert data.train.labels.tolist() == [0, 0, 1, 1]
    assert data.test.labels.tolist() == [1, 0, 1]
    assert data.train.images.shape == (4, 3, 64, 64) and data.test.images.shape == (3, 3, 64, 64)
    for images, labels in (
        (data.train.images, data.train.labels),
        (data.test.images, data.test.labels),
    ):
        for image, label in zip(images, labels):
            expected = torch.tensor(colours[wnids[label]])
            assert (image[:, 32, 32].int() - expected).abs().max() <= 3  # JPEG

    small = load_dataset(
        "image-folder", data_dir=tmp_path, folder="tiny-imagenet-200", image_size=32
    )
    assert small.test.images.shape == (3, 3, 32, 32)

    (root / "words.txt").unlink()
    assert (
        load_dataset(
            "image-folder", data_dir=tmp_path, folder="tiny-imagenet-200", image_size=8
        ).class_names
        == wnids
    )


# --- missing data, metadata, options ---------------------------------------------------

EXPECTED_FOLDER = {
    "mnist": "MNIST/raw",
    "fashion-mnist": "FashionMNIST/raw",
    "kmnist": "KMNIST/raw",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "svhn": "svhn",
    "image-folder": "image-folder",
    "cityscapes": "cityscapes",
    "voc": "VOCdevkit/VOC2012",
}


@pytest.mark.parametrize("name", REAL)
def test_missing_data_names_the_folder_and_the_remedy(tmp_path, name):
    with pytest.raises(DataNotFoundError) as error:
        load_dataset(name, data_dir=tmp_path)
    message = str(error.value)
    assert repr(name) in message
    assert str(tmp_path / EXPECTED_FOLDER[name]) in message
    if name == "cityscapes":
        assert "cityscapes-dataset.com" in message and "--download" not in message
    elif name == "image-folder":
        assert "train/" in message and "--download" not in message
    else:
        assert "--download" in message
    assert "Dataset not found" not in message  # torchvision's own message


def test_no_data_dir_is_a_config_error():
    with pytest.raises(ConfigError, match="--data-dir"):
        load_dataset("mnist")


@pytest.mark.parametrize("name", REAL)
def test_metadata(name):
    info = dataset_info(name)
    assert info.loader is not None and not info.embedded
    assert info.folder == EXPECTED_FOLDER[name]
    assert info.downloadable == (name not in ("cityscapes", "image-folder"))
    channels = info.input_shape[0]
    assert len(info.mean) == len(info.std) == channels
    assert all(0 < m < 1 and 0 < s < 1 for m, s in zip(info.mean, info.std))
    assert info.license and info.homepage.startswith("http") and info.paper
    assert info.kind == ("segmentation" if name in ("cityscapes", "voc") else "classification")


def test_bad_size_option(tmp_path):
    write_voc(tmp_path)
    for size in (0, (8,), (8, -1), "big", (8.5, 8)):
        with pytest.raises(ConfigError, match="size"):
            load_dataset("voc", data_dir=tmp_path, size=size)
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset("image-folder", data_dir=tmp_path, image_size=0)
