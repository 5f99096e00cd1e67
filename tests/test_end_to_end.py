"""The acceptance run: a search end to end on each data set kind, then its exported ONNX and TorchScript
models and `nas4cnn predict` give the same classes as the run's own PyTorch model on the test images.

Fixture files in the real formats come from test_datasets; MNIST-sized (1 x 28 x 28) and CIFAR-sized
(3 x 32 x 32) shapes are among them. The CLI runs in-process to save interpreter start-up time.
"""

import json

import numpy as np
import pytest
import torch
from test_datasets import (  # noqa: F401  (_no_home_cache: the autouse fixture, a per-test data cache)
    TINY_SPACE,
    _no_home_cache,
    run_cli,
    write_cifar,
    write_folder,
    write_idx_set,
    write_npz,
)

from nas4cnn.core.config import config_from_dict
from nas4cnn.data.load import load_dataset
from nas4cnn.nn.checkpoint import load_bundle
from nas4cnn.outputs.export import read_metadata

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # torch.jit is deprecated upstream
              pytest.mark.slow]  # searches through the CLI and ONNX exports

KINDS = ["digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "folder", "npz"]
TIE = 1e-4  # probabilities closer than this are a tie: either class is a right answer


def _data_args(kind, tmp_path) -> tuple[list, tuple[int, int, int], int]:
    """Writes the data set's fixture files; returns the search's data flags, the image shape and the class count."""
    cache = tmp_path / "cache"  # NAS4CNN_DATA, set by _no_home_cache: where named data sets are looked for
    if kind == "digits":  # bundled with nas4cnn
        return ["--dataset", "digits"], (1, 8, 8), 10
    if kind in ("mnist", "fashion-mnist", "kmnist"):
        write_idx_set(cache / kind, n_train=40, n_test=20, gz=kind != "kmnist")
        return ["--dataset", kind], (1, 28, 28), 10
    if kind == "cifar10":
        write_cifar(cache / "cifar10" / "cifar-10-batches-py", per_batch=6, n_test=20)
        return ["--dataset", "cifar10", "--val-fraction", "0.25"], (3, 32, 32), 10
    if kind == "folder":
        write_folder(tmp_path / "imgs", per_class=15, size=(20, 24), colour=True, ext=".jpg")
        return ["--dataset", f"folder:{tmp_path / 'imgs'}", "--image-size", "16"], (3, 16, 16), 3
    write_npz(tmp_path / "d.npz", n=40, n_test=16, shape=(2, 9, 9), classes=4)
    return ["--dataset", f"npz:{tmp_path / 'd.npz'}"], (2, 9, 9), 4


def _assert_same_classes(what: str, got, probs: np.ndarray) -> None:
    """`got` are the classes of the run's model (probabilities `probs`), save where its best two tie."""
    got = np.asarray(got)
    top2 = np.sort(probs, axis=1)[:, -2:]
    decisive = top2[:, 1] - top2[:, 0] > TIE
    assert decisive.mean() >= 0.5, f"{what}: too many near-ties for a meaningful check"
    want = probs.argmax(1)
    assert got.shape == want.shape
    assert (got[decisive] == want[decisive]).all(), f"{what}: {got.tolist()} != {want.tolist()}"
    assert (probs[np.arange(len(got)), got] >= top2[:, 1] - TIE).all(), what  # ties: one of the best


@pytest.mark.parametrize("kind", KINDS)
def test_search_export_predict_on_each_kind(tmp_path, capsys, kind):
    args, shape, num_classes = _data_args(kind, tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY_SPACE)
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "search", "--config", tmp_path / "tiny.toml", *args, "--generations", "1",
                             "--population", "2", "--epochs", "1", "--final-epochs", "1", "--workers", "1",
                             "--quiet", "--out", run)
    assert code == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset"]["input_shape"] == list(shape) and summary["dataset"]["num_classes"] == num_classes

    # the run's test images, raw pixels as the data set stores them, read back with the run's own settings
    data = load_dataset(config_from_dict(summary["config"]).data)
    x, y = data.test.x, data.test.y
    assert tuple(x.shape[1:]) == shape and len(x) >= 8

    # the run's PyTorch model: its input normalisation, then the CNN
    bundle = load_bundle(run / "model.pt")
    assert bundle.input_shape == shape and bundle.class_names == data.class_names
    with torch.no_grad():
        probs = torch.exp(bundle.model(bundle.normalization.apply(x))).numpy()
    # it is the model the run tested: its test error is the one reported
    assert float((probs.argmax(1) != y.numpy()).mean()) == pytest.approx(summary["final"]["test_error"], abs=1e-6)

    # TorchScript
    code, out, err = run_cli(capsys, "export", run, "--format", "torchscript")
    assert code == 0, err
    scripted = torch.jit.load(str(run / "model.torchscript.pt"))
    with torch.no_grad():
        got = scripted(x).numpy()
    _assert_same_classes("TorchScript", got.argmax(1), probs)
    np.testing.assert_allclose(got, probs, atol=TIE, rtol=0)
    assert read_metadata(run / "model.torchscript.pt")["class_names"] == list(data.class_names)

    # nas4cnn predict on an .npz of the test images
    np.savez(tmp_path / "test.npz", x=x.numpy())
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "test.npz", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == [f"{tmp_path / 'test.npz'}[{i}]" for i in range(len(x))]
    assert [r["class"] for r in rows] == [data.class_names[r["index"]] for r in rows]
    _assert_same_classes("predict", [r["index"] for r in rows], probs)

    # ONNX, run with onnxruntime
    ort = pytest.importorskip("onnxruntime")
    code, out, err = run_cli(capsys, "export", run, "--format", "onnx")
    assert code == 0, err
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": x.numpy()})[0]
    _assert_same_classes("ONNX", got.argmax(1), probs)
    np.testing.assert_allclose(got, probs, atol=TIE, rtol=0)
    assert read_metadata(run / "model.onnx")["class_names"] == list(data.class_names)
