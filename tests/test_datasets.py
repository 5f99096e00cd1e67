"""Real data set formats: IDX (MNIST family), CIFAR-10 Python batches, image folders, .npz arrays;
checksum-verified downloads from a local server; stratified, seeded splits; the CLI end to end.

Every fixture is written here, in the real on-disk format, tiny but with the real image shapes.
"""

import functools
import gzip
import hashlib
import http.server
import io
import json
import logging
import pickle
import struct
import subprocess
import sys
import tarfile
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from nas4cnn.cli import main
from nas4cnn.core.config import DataConfig, config_from_dict
from nas4cnn.core.errors import DataError
from nas4cnn.data.load import load_dataset
from nas4cnn.data.sources import download
from nas4cnn.data.sources.idx import read_idx
from nas4cnn.data.sources.splits import hold_out
from nas4cnn.nn.model import max_params

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TINY_SPACE = '[space]\nfilters = [2, 4]\nconv = ["k3"]\nactivation = ["relu"]\npooling = ["max2"]\nlinear = [8]\n'


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Named data sets look in a per-test cache, never the user's."""
    monkeypatch.setenv("NAS4CNN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("NAS4CNN_DATA_MIRROR", raising=False)


# ---------------------------------------------------------------- fixture files in the real formats


def idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def labels(n: int, classes: int, rng) -> np.ndarray:
    y = np.arange(n) % classes
    rng.shuffle(y)
    return y


def write_idx_set(folder: Path, n_train=50, n_test=20, gz=True, seed=0) -> dict:
    """The four MNIST files; gz: gzipped (the downloads), else plain (unpacked by the user)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = labels(n, 10, rng)
        x = (rng.integers(0, 60, (n, 28, 28)) + 19 * y[:, None, None]).astype(np.uint8)
        x[0, 0, 0] = 255
        arrays[prefix] = (x, y)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


def _py2_str(b: bytes) -> bytes:
    """A Python 2 str in a protocol-2 pickle (SHORT_BINSTRING or BINSTRING)."""
    return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b


def py2_pickle(d: dict) -> bytes:
    """A dict of str keys -> uint8 arrays, int lists, str lists or ints, pickled as Python 2's cPickle
    wrote the official CIFAR-10 batches (numpy.core.multiarray._reconstruct, str as bytes)."""

    def value(v) -> bytes:
        if isinstance(v, np.ndarray):
            shape = b"".join(b"J" + struct.pack("<i", n) for n in v.shape) + {1: b"\x85", 2: b"\x86"}[v.ndim]
            dtype = (b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R(K\x03" + _py2_str(b"|")
                     + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b")
                    + b"\x87R(K\x01" + shape + dtype + b"\x89" + _py2_str(v.astype(np.uint8).tobytes()) + b"tb")
        if isinstance(v, list):
            return b"](" + b"".join(value(i) for i in v) + b"e"
        if isinstance(v, bytes):
            return _py2_str(v)
        return b"J" + struct.pack("<i", v)

    return b"\x80\x02}(" + b"".join(_py2_str(k.encode()) + value(v) for k, v in d.items()) + b"u."


def write_cifar(folder: Path, per_batch=8, n_test=20, seed=0, protocol="py2") -> dict:
    """cifar-10-batches-py: five training batches, the test batch, batches.meta; protocol "py2":
    byte for byte the structure of the official Python 2 pickles, else Python 3 pickles with bytes
    keys."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def dump(d: dict, path: Path) -> None:
        if protocol == "py2":
            path.write_bytes(py2_pickle(d))
        else:
            path.write_bytes(pickle.dumps({k.encode(): v for k, v in d.items()}, protocol=protocol))

    arrays = {}
    for name in CIFAR_FILES[:-1]:
        n = n_test if name == "test_batch" else per_batch
        y = labels(n, 10, rng)
        x = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        arrays[name] = (x, y)
        dump({"batch_label": name.encode(), "labels": [int(v) for v in y], "data": x,
              "filenames": [b"f.png"] * n}, folder / name)
    dump({"num_cases_per_batch": per_batch, "label_names": [n.encode() for n in CIFAR_NAMES], "num_vis": 3072},
         folder / "batches.meta")
    return arrays


def write_image(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95) if path.suffix == ".jpg" else Image.fromarray(arr).save(path)


def write_folder(root: Path, classes=("cat", "ant", "bee"), per_class=14, size=(20, 24), colour=False,
                 ext=".png", seed=0) -> None:
    """One sub-folder per class; each class a distinct brightness (learnable)."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        for i in range(per_class):
            base = 40 + 80 * c
            if colour:
                arr = np.zeros((*size, 3), np.uint8)
                arr[..., c % 3] = base + rng.integers(0, 30, size)
            else:
                arr = (base + rng.integers(0, 30, size)).astype(np.uint8)
            write_image(root / name / f"img{i:02d}{ext}", arr)


def write_npz(path: Path, n=48, n_test=0, shape=(28, 28), classes=4, dtype=np.uint8, names=True, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {}
    for suffix, m in (("", n), ("_test", n_test)):
        if m:
            y = labels(m, classes, rng)
            x = (rng.integers(0, 100, (m, *shape)) + 40 * y.reshape(-1, *[1] * len(shape))).astype(dtype)
            arrays[f"x{suffix}"], arrays[f"y{suffix}"] = x, y
    if names:
        arrays["class_names"] = np.array([f"class {i}" for i in range(classes)])
    np.savez(path, **arrays)
    return arrays


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(code: int, err: str, fragment: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and fragment in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- IDX: MNIST, Fashion-MNIST, KMNIST


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_plain_and_gzipped(tmp_path, gz):
    arrays = write_idx_set(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    x = read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", 3)
    y = read_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", 1)
    assert x.dtype == np.uint8 and x.shape == (50, 28, 28) and x.flags.writeable
    assert np.array_equal(x, arrays["train"][0]) and np.array_equal(y, arrays["train"][1])


@pytest.mark.parametrize("name, names", [
    ("mnist", tuple("0123456789")),
    ("fashion-mnist", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                       "Ankle boot")),
    ("kmnist", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
])
def test_idx_data_sets(tmp_path, name, names):
    arrays = write_idx_set(tmp_path / name, gz=name != "kmnist")
    data = load_dataset(DataConfig(dataset=name, data_dir=str(tmp_path / name), val_fraction=0.2))
    assert data.name == name and data.class_names == names and data.num_classes == 10
    assert data.input_shape == (1, 28, 28) and data.pixel_max == 255.0
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 20)
    # the official test split, raw pixel values (no normalisation)
    assert torch.equal(data.test.x[:, 0], torch.as_tensor(arrays["t10k"][0], dtype=torch.float32))
    assert torch.equal(data.test.y, torch.as_tensor(arrays["t10k"][1]))
    assert float(data.train.x.max()) == 255.0 or float(data.val.x.max()) == 255.0
    # validation is stratified: every class once (10 of 50, 5 per class)
    assert sorted(data.val.y.tolist()) == list(range(10))


def test_idx_default_folder_is_the_cache(tmp_path):
    write_idx_set(tmp_path / "cache" / "mnist")
    assert len(load_dataset("mnist").test) == 20


def _damage(tmp_path: Path, how: str) -> tuple[Path, str]:
    folder = tmp_path / "mnist"
    write_idx_set(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    data = path.read_bytes()
    if how == "magic":
        path.write_bytes(b"\x12\x34" + data[2:])
        return path, "is not an IDX file: bad magic number 0x1234"
    if how == "truncated":
        path.write_bytes(data[:-100])
        return path, "is truncated"
    if how == "swapped":
        (folder / "train-labels-idx1-ubyte").rename(folder / "x")
        path.rename(folder / "train-labels-idx1-ubyte")
        (folder / "x").rename(path)
        return path, "holds a 1-dimensional array; expected 3 dimensions (images)"
    if how == "bad-gzip":
        path.unlink()
        path = folder / "train-images-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(data)[:-30])
        return path, "truncated gzip data"
    if how == "count":
        (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(49, np.uint8)))
        return path, "has 50 images but"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["magic", "truncated", "swapped", "bad-gzip", "count"])
def test_damaged_idx_files_are_named(tmp_path, how):
    path, fragment = _damage(tmp_path, how)
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset="mnist", data_dir=str(path.parent)))
    assert fragment in str(e.value) and str(path) in str(e.value)


# ---------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("protocol", ["py2", 2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_batches(tmp_path, protocol):
    arrays = write_cifar(tmp_path / "c" / "cifar-10-batches-py", protocol=protocol)
    # --data-dir may name the batches folder or the folder above it
    for data_dir in (tmp_path / "c", tmp_path / "c" / "cifar-10-batches-py"):
        data = load_dataset(DataConfig(dataset="cifar10", data_dir=str(data_dir), val_fraction=0.25))
        assert data.input_shape == (3, 32, 32) and data.class_names == tuple(CIFAR_NAMES)
        assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 20) and data.pixel_max == 255.0
    x, y = arrays["test_batch"]
    # rows are 1024 red, 1024 green, 1024 blue values, each 32 x 32 row-major
    assert torch.equal(data.test.x[3, 1, 2, 5], torch.tensor(float(x[3, 1024 + 2 * 32 + 5])))
    assert torch.equal(data.test.y, torch.as_tensor(y))


@pytest.mark.parametrize("content, fragment", [
    (b"not a pickle", "is not a CIFAR-10 Python batch"),
    (pickle.dumps([1, 2, 3]), "it holds a list, not a dict"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), "no 'labels' entry"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "N x 3072 uint8"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "'labels' must be 2 integers"),
    (b"cos\nsystem\n(S'echo pwned'\ntR.", "refers to os.system"),
])
def test_bad_cifar_batches_are_named(tmp_path, content, fragment):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "data_batch_3").write_bytes(content)
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset="cifar10", data_dir=str(folder)))
    assert fragment in str(e.value) and "data_batch_3" in str(e.value)


# ---------------------------------------------------------------- image folders


def test_png_folder_grey_held_out_test(tmp_path):
    write_folder(tmp_path / "imgs", per_class=15)
    (tmp_path / "imgs" / "ant" / "notes.txt").write_text("not an image")
    cfg = DataConfig(dataset=f"folder:{tmp_path / 'imgs'}", image_size=16, val_fraction=0.25)
    data = load_dataset(cfg)
    assert data.class_names == ("ant", "bee", "cat")  # sorted folder names
    assert data.input_shape == (1, 16, 16) and data.pixel_max == 255.0
    assert (len(data.train), len(data.val), len(data.test)) == (27, 9, 9)  # 45: 20 % test, then 25 % val
    for split in (data.val, data.test):
        assert sorted(np.bincount(split.y.numpy()).tolist()) == [3, 3, 3]  # stratified
    # labels follow the sorted names, not the order of writing: 'cat' (written first) is the darkest
    assert float(data.train.x[data.train.y == 2].max()) < 80 <= float(data.train.x[data.train.y == 0].min())
    assert load_dataset(cfg).train.x.equal(data.train.x)  # deterministic


def test_jpeg_folder_with_own_split_colour(tmp_path):
    root = tmp_path / "photos"
    write_folder(root / "train", classes=("red", "green"), per_class=12, size=(40, 30), colour=True, ext=".jpg")
    write_folder(root / "test", classes=("red", "green"), per_class=4, size=(32, 32), colour=True, ext=".jpg",
                 seed=1)
    cfg = DataConfig(dataset=f"folder:{root}", image_size=32, val_fraction=0.25)
    data = load_dataset(cfg)
    assert data.input_shape == (3, 32, 32) and data.class_names == ("green", "red")
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 8)
    grey = load_dataset(DataConfig(dataset=f"folder:{root}", image_size=8, channels=1))
    assert grey.input_shape == (1, 8, 8)


def test_folder_with_own_validation_split(tmp_path):
    for part, n in (("train", 6), ("val", 2), ("test", 3)):
        write_folder(tmp_path / "s" / part, classes=("a", "b"), per_class=n, size=(8, 8))
    data = load_dataset(DataConfig(dataset=f"folder:{tmp_path / 's'}", image_size=8))
    assert (len(data.train), len(data.val), len(data.test)) == (12, 4, 6) and data.input_shape == (1, 8, 8)


def test_folder_grey_images_forced_to_three_channels(tmp_path):
    write_folder(tmp_path / "g", per_class=10)
    data = load_dataset(DataConfig(dataset=f"folder:{tmp_path / 'g'}", channels=3))
    assert data.input_shape == (3, 28, 28)
    assert torch.equal(data.train.x[:, 0], data.train.x[:, 2])


@pytest.mark.parametrize("setup, fragment", [
    (lambda r: (r / "cat" / "img03.png").write_bytes(b"\x89PNG broken"), "cannot read the image"),
    (lambda r: [p.unlink() for p in (r / "bee").iterdir()], "holds no PNG or JPEG images"),
    (lambda r: (r / "train").mkdir(), "has train/ but no test/"),
])
def test_bad_folders_are_explained(tmp_path, setup, fragment):
    root = tmp_path / "imgs"
    write_folder(root, per_class=5)
    setup(root)
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset=f"folder:{root}"))
    assert fragment in str(e.value)
    if "image" in fragment and "cannot" in fragment:
        assert str(root / "cat" / "img03.png") in str(e.value)


# ---------------------------------------------------------------- npz arrays


def test_npz_with_own_test_split(tmp_path):
    arrays = write_npz(tmp_path / "d.npz", n=40, n_test=12)
    data = load_dataset(DataConfig(dataset=f"npz:{tmp_path / 'd.npz'}", val_fraction=0.2))
    assert data.input_shape == (1, 28, 28) and data.num_classes == 4 and data.pixel_max == 255.0
    assert data.class_names == ("class 0", "class 1", "class 2", "class 3")
    assert (len(data.train), len(data.val), len(data.test)) == (32, 8, 12)
    assert torch.equal(data.test.x[:, 0], torch.as_tensor(arrays["x_test"], dtype=torch.float32))
    assert sorted(np.bincount(data.val.y.numpy()).tolist()) == [2, 2, 2, 2]


def test_npz_held_out_test_float_and_channels(tmp_path):
    write_npz(tmp_path / "f.npz", n=60, shape=(3, 12, 12), dtype=np.float32, names=False, classes=3)
    data = load_dataset(DataConfig(dataset=f"npz:{tmp_path / 'f.npz'}"))
    assert data.input_shape == (3, 12, 12) and data.class_names == ("0", "1", "2")
    assert (len(data.train), len(data.val), len(data.test)) == (43, 5, 12)
    assert data.pixel_max == float(data.train.x.max())  # not uint8: the training split's largest value
    # channels-last arrays are recognised
    x = np.random.default_rng(0).integers(0, 255, (30, 10, 10, 3)).astype(np.uint8)
    np.savez(tmp_path / "hwc.npz", x=x, y=np.arange(30) % 2)
    assert load_dataset(DataConfig(dataset=f"npz:{tmp_path / 'hwc.npz'}")).input_shape == (3, 10, 10)


@pytest.mark.parametrize("arrays, fragment", [
    (dict(images=np.zeros((10, 8, 8)), y=np.zeros(10, int)), "has no 'x' array (found: images, y)"),
    (dict(x=np.zeros((10, 8, 8)), y=np.zeros(10, int), x_test=np.zeros((4, 8, 8))), "has x_test but no y_test"),
    (dict(x=np.zeros((10, 8, 8)), y=np.zeros(10)), "integer labels"),
    (dict(x=np.zeros((10, 8, 8)), y=np.zeros(9, int)), "one label per image (10)"),
    (dict(x=np.zeros((10, 8)), y=np.zeros(10, int)), "N x H x W or N x C x H x W"),
    (dict(x=np.full((10, 8, 8), np.inf), y=np.arange(10) % 2), "non-finite"),
    (dict(x=np.zeros((10, 8, 8)), y=np.arange(10) % 2, x_test=np.zeros((4, 6, 6)), y_test=np.arange(4) % 2),
     "image shapes differ"),
    (dict(x=np.zeros((10, 8, 8)), y=np.arange(10) % 3, class_names=np.array(["a", "b"])),
     "the labels go up to 2, but class_names names 2 classes"),
    (dict(x=np.zeros((10, 8, 8)), y=np.zeros(10, int)), "expected at least 2 classes; got 1"),
    (dict(x=np.zeros((10, 8, 8)), y=np.arange(10) % 2 - 1), "labels must be class indices 0, 1, ...; got values "
                                                           "from -1 to 0"),
    (dict(x=np.zeros((10, 8, 8)), y=np.arange(10) % 2, class_names=np.array([{}, {}], dtype=object)),
     "it holds Python objects"),
])
def test_bad_npz_is_explained(tmp_path, arrays, fragment):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset=f"npz:{tmp_path / 'bad.npz'}"))
    assert fragment in str(e.value)


def test_not_an_npz_file(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 8)))
    (tmp_path / "t.npz").write_text("x,y\n1,2\n")
    for name in ("x.npy", "t.npz"):
        with pytest.raises(DataError, match="is not a .npz file"):
            load_dataset(DataConfig(dataset=f"npz:{tmp_path / name}"))


# ---------------------------------------------------------------- splits


def test_hold_out_is_stratified_and_seeded():
    y = np.repeat(np.arange(4), [40, 20, 20, 20])
    x = np.arange(100)[:, None]
    (kx, ky), (hx, hy) = hold_out("t", x, y, 0.2, seed=0, part="val")
    assert np.bincount(hy).tolist() == [8, 4, 4, 4] and len(ky) == 80
    assert sorted(kx[:, 0].tolist() + hx[:, 0].tolist()) == list(range(100))  # a partition
    again = hold_out("t", x, y, 0.2, seed=0, part="val")[1][0]
    other = hold_out("t", x, y, 0.2, seed=1, part="val")[1][0]
    assert np.array_equal(again, hx) and not np.array_equal(other, hx)


def test_split_seed_changes_only_the_split(tmp_path):
    write_npz(tmp_path / "d.npz", n=40, n_test=8)
    a, b, c = (load_dataset(DataConfig(dataset=f"npz:{tmp_path / 'd.npz'}", split_seed=s)) for s in (0, 0, 7))
    assert a.val.x.equal(b.val.x) and not a.val.x.equal(c.val.x)
    assert a.test.x.equal(c.test.x)  # the file's own test split never moves


def test_too_small_class_falls_back_with_a_warning(caplog):
    y = np.array([0] * 10 + [1] * 10 + [2])
    with caplog.at_level(logging.WARNING):
        kept, held = hold_out("t", np.zeros((21, 1)), y, 0.2, seed=0, part="val")
    assert "cannot stratify the val split (class 2 has only 1 image)" in caplog.text
    assert len(held[1]) == 5 and len(kept[1]) == 16
    with pytest.raises(DataError, match="too few to hold out"):
        hold_out("t", np.zeros((1, 1)), np.array([0]), 0.2, seed=0, part="val")


# ---------------------------------------------------------------- downloads from a local server


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server over tmp_path/mirror, set as NAS4CNN_DATA_MIRROR."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("NAS4CNN_DATA_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    yield root
    server.shutdown()
    server.server_close()


def publish(monkeypatch, mirror: Path, name: str, files: dict[str, bytes], wrong: str = "",
            algorithm: str = "sha256") -> None:
    """Serve `files` as data set `name` and make their checksums the official ones (`wrong`: one
    file whose published checksum does not match)."""
    (mirror / name).mkdir(parents=True, exist_ok=True)
    sums = {}
    for fname, data in files.items():
        (mirror / name / fname).write_bytes(data)
        digest = hashlib.new(algorithm, data if fname != wrong else data + b"x").hexdigest()
        sums[fname] = f"{algorithm}:{digest}"
    monkeypatch.setitem(download.SOURCES, name, download.Source(("http://unused.invalid/",), sums))


def test_download_idx_files_with_checksums(tmp_path, mirror, monkeypatch, capsys):
    src = tmp_path / "src"
    write_idx_set(src)
    publish(monkeypatch, mirror, "fashion-mnist", {p.name: p.read_bytes() for p in src.iterdir()})
    code, out, err = run_cli(capsys, "space", "--dataset", "fashion-mnist", "--download", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["dataset"] == "fashion-mnist" and info["input_shape"] == [1, 28, 28] and info["num_classes"] == 10
    cache = tmp_path / "cache" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{f}.gz" for f in IDX_FILES)  # no temp files
    assert all((cache / p.name).read_bytes() == p.read_bytes() for p in src.iterdir())
    # a second run finds the files and downloads nothing
    (mirror / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    assert run_cli(capsys, "space", "--dataset", "fashion-mnist", "--download")[0] == 0


def test_checksum_mismatch_leaves_no_file(tmp_path, mirror, monkeypatch, capsys):
    src = tmp_path / "src"
    write_idx_set(src)
    publish(monkeypatch, mirror, "mnist", {p.name: p.read_bytes() for p in src.iterdir()},
            wrong="train-labels-idx1-ubyte.gz")
    data_dir = tmp_path / "here"
    code, _, err = run_cli(capsys, "space", "--dataset", "mnist", "--download", "--data-dir", data_dir)
    line = one_error_line(code, err, "checksum mismatch for train-labels-idx1-ubyte.gz")
    assert "expected sha256" in line and "the download was discarded" in line
    assert sorted(p.name for p in data_dir.iterdir()) == ["train-images-idx3-ubyte.gz"]  # nothing partial


def test_unreachable_mirror_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NAS4CNN_DATA_MIRROR", "http://127.0.0.1:9")  # discard port: nothing listens
    code, _, err = run_cli(capsys, "space", "--dataset", "kmnist", "--download")
    line = one_error_line(code, err, "could not download train-images-idx3-ubyte.gz")
    assert "http://127.0.0.1:9/kmnist/train-images-idx3-ubyte.gz" in line
    assert not any((tmp_path / "cache" / "kmnist").iterdir())


def test_download_cifar10_archive(tmp_path, mirror, monkeypatch, capsys):
    arrays = write_cifar(tmp_path / "build" / "cifar-10-batches-py")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    publish(monkeypatch, mirror, "cifar10", {"cifar-10-python.tar.gz": buf.getvalue()}, algorithm="md5")
    cfg = DataConfig(dataset="cifar10", download=True)
    data = load_dataset(cfg)
    assert data.input_shape == (3, 32, 32) and len(data.test) == 20
    assert torch.equal(data.test.y, torch.as_tensor(arrays["test_batch"][1]))
    cache = tmp_path / "cache" / "cifar10"
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]  # archive removed
    assert sorted(p.name for p in (cache / "cifar-10-batches-py").iterdir()) == sorted(CIFAR_FILES)


def test_fetch_shows_a_progress_bar(tmp_path, mirror, monkeypatch, capsys):
    publish(monkeypatch, mirror, "mnist", {"t10k-labels-idx1-ubyte.gz": b"x" * 5000})
    path = download.fetch("mnist", "t10k-labels-idx1-ubyte.gz", tmp_path / "d", progress=True)
    assert path.read_bytes() == b"x" * 5000
    assert "t10k-labels-idx1-ubyte.gz" in capsys.readouterr().err


def test_official_sources_have_checksums():
    for name, files in (("mnist", IDX_FILES), ("fashion-mnist", IDX_FILES), ("kmnist", IDX_FILES),
                        ("cifar10", ("cifar-10-python",))):
        source = download.SOURCES[name]
        assert sorted(source.files) == sorted(f"{f}.gz" if name != "cifar10" else f"{f}.tar.gz" for f in files)
        assert all(c.startswith("md5:") and len(c) == 36 for c in source.files.values())
        assert all(m.startswith(("https://", "http://")) and m.endswith("/") for m in source.mirrors)


# ---------------------------------------------------------------- the CLI: errors and searches


def test_unused_settings_are_named(tmp_path, caplog):
    write_npz(tmp_path / "d.npz", n=20, n_test=8)
    with caplog.at_level(logging.WARNING):
        load_dataset(DataConfig(dataset=f"npz:{tmp_path / 'd.npz'}", image_size=16, data_dir="x"))
    assert "does not use --data-dir, --image-size; ignored" in caplog.text



@pytest.mark.parametrize("args, fragment", [
    (["--dataset", "mnist"], "train-images-idx3-ubyte.gz (or train-images-idx3-ubyte) is not in"),
    (["--dataset", "cifar10"], "data_batch_1 is not in"),
    (["--dataset", "imagenet"], "data.dataset (--dataset) must be one of"),
    (["--dataset", "folder:"], "folder:PATH"),
    (["--dataset", "folder:/no/such/dir"], "no such folder '/no/such/dir'"),
    (["--dataset", "npz:/no/such.npz"], "no such file '/no/such.npz'"),
    (["--val-fraction", "1.5"], "data.val_fraction (--val-fraction) must be below 1; got 1.5"),
    (["--channels", "2"], "data.channels (--channels) must be one of [0, 1, 3]; got 2"),
    (["--image-size", "-3"], "data.image_size (--image-size) must be an integer >= 0"),
])
def test_data_errors_through_cli_one_line(tmp_path, capsys, args, fragment):
    for command in (["space"], ["search", "--out", str(tmp_path / "never")]):
        code, out, err = run_cli(capsys, *command, *args)
        line = one_error_line(code, err, fragment)
        assert out == ""
        if "is not in" in fragment:
            assert str(tmp_path / "cache") in line and "--download" in line and "--data-dir" in line
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_bad_file_through_cli_as_a_user(tmp_path):
    """A real subprocess: exit 2, one line on stderr, no traceback."""
    path, fragment = _damage(tmp_path, "truncated")
    r = subprocess.run([sys.executable, "-m", "nas4cnn", "space", "--dataset", "mnist", "--data-dir",
                        str(path.parent)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and str(path) in lines[0]


def _tiny_search(tmp_path, capsys, *data_args) -> dict:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_SPACE)
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "search", "--config", cfg, *data_args, "--generations", "1",
                                "--population", "2", "--epochs", "1", "--final-epochs", "1", "--workers", "1",
                                "--quiet", "--out", out)
    assert code == 0, err
    assert "test error" in stdout
    model = torch.load(out / "model.pt", weights_only=True)
    summary = json.loads((out / "summary.json").read_text())
    return {"summary": summary, "model": model}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mnist", "cifar10", "folder", "npz"])
def test_tiny_search_on_each_kind(tmp_path, capsys, kind):
    if kind == "mnist":
        write_idx_set(tmp_path / "m", gz=False)
        args, shape, names = ["--dataset", "mnist", "--data-dir", tmp_path / "m"], [1, 28, 28], list("0123456789")
        sizes = {"train": 45, "val": 5, "test": 20}
    elif kind == "cifar10":
        write_cifar(tmp_path / "cache" / "cifar10" / "cifar-10-batches-py")
        args, shape, names = ["--dataset", "cifar10", "--val-fraction", "0.25"], [3, 32, 32], CIFAR_NAMES
        sizes = {"train": 30, "val": 10, "test": 20}
    elif kind == "folder":
        write_folder(tmp_path / "imgs", per_class=10, colour=True)
        args = ["--dataset", f"folder:{tmp_path / 'imgs'}", "--image-size", "12"]
        shape, names, sizes = [3, 12, 12], ["ant", "bee", "cat"], {"train": 21, "val": 3, "test": 6}
    else:
        write_npz(tmp_path / "d.npz", n=40, n_test=10, shape=(2, 9, 9))
        args = ["--dataset", f"npz:{tmp_path / 'd.npz'}", "--split-seed", "3"]
        shape, names = [2, 9, 9], ["class 0", "class 1", "class 2", "class 3"]
        sizes = {"train": 36, "val": 4, "test": 10}
    run = _tiny_search(tmp_path, capsys, *args)
    s = run["summary"]
    assert s["dataset"] == {"name": args[1] if kind != "folder" else f"folder:{tmp_path / 'imgs'}",
                            "input_shape": shape, "num_classes": len(names), "sizes": sizes}
    assert s["config"]["data"]["dataset"] == str(args[1])
    assert run["model"]["input_shape"] == shape and run["model"]["class_names"] == names
    assert run["model"]["pixel_max"] == 255.0
    space = config_from_dict({"space": tomllib.loads(TINY_SPACE)["space"]}).space
    assert s["nmax"] == max_params(space, tuple(shape), len(names))  # Nmax follows the data's shape
