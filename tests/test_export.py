"""Export (ONNX, TorchScript) and prediction: the exported files and `predict` agree with the run's model."""

import json
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from nas4cnn import Prediction, api, export, predict
from nas4cnn.cli import main
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.core.space import SearchSpace
from nas4cnn.data.preprocess import Normalization
from nas4cnn.nn.checkpoint import load_bundle, save_model
from nas4cnn.nn.model import build_model
from nas4cnn.outputs.export import _export, read_metadata
from nas4cnn.outputs.predict import read_image, read_inputs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated upstream

GREY = dict(genotype=(2, 0, 0, 1, 6), shape=(1, 8, 8), classes=("cat", "dog", "bird", "fish"), pixel_max=16.0,
            norm=Normalization((4.0,), (5.0,)))
RGB = dict(genotype=(1, 1, 2, 0, 3), shape=(3, 32, 32), classes=("red", "green", "blue"), pixel_max=255.0,
           norm=Normalization((120.0, 110.0, 100.0), (60.0, 50.0, 70.0)))


def make_run(path, genotype, shape, classes, pixel_max, norm, seed=0, **saved):
    """A run folder with a model.pt: a small CNN with decisive random weights and a non-identity input map;
    `saved`: more of save_model's arguments."""
    path.mkdir(parents=True)
    model = build_model(SearchSpace().decode(genotype), shape, len(classes), seed=seed)
    with torch.no_grad():
        model.linear2.weight.mul_(8.0)  # spread the outputs so no two classes nearly tie
    save_model(model, path / "model.pt", genotype, normalization=norm, class_names=classes, pixel_max=pixel_max,
               **saved)
    return path


def reference(run, x):
    """The run's own pipeline, written out: normalise raw pixels, run the CNN, exp the log-probabilities."""
    b = load_bundle(run / "model.pt")
    with torch.no_grad():
        return torch.exp(b.model(b.normalization.apply(torch.as_tensor(x, dtype=torch.float32))))


def raw(shape, n, pixel_max, seed=0):
    return (torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed)) * pixel_max).numpy()


def cli_run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"grey": make_run(root / "grey", **GREY), "rgb": make_run(root / "rgb", **RGB, seed=1)}


@pytest.fixture(scope="module")
def images(tmp_path_factory, runs):
    """Image files and .npz arrays for both models, in sizes and modes that need converting."""
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    files = {}
    files["grey8.png"] = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    files["grey20.png"] = rng.integers(0, 256, (20, 20), dtype=np.uint8)
    files["rgb32.png"] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    files["rgb48x40.jpg"] = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    files["grey16.jpg"] = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    for name, a in files.items():
        Image.fromarray(a).save(d / name)
    np.savez(d / "grey.npz", x=raw((8, 8), 5, GREY["pixel_max"], seed=1))
    np.savez(d / "rgb.npz", x=raw(RGB["shape"], 4, RGB["pixel_max"], seed=2))
    return d


ONNX_CASES = [("grey", GREY), ("rgb", RGB)]


# --- ONNX -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("which,spec", ONNX_CASES)
def test_onnx_export_matches_pytorch(runs, which, spec):
    ort = pytest.importorskip("onnxruntime")
    path = export(runs[which], "onnx")
    assert path == runs[which] / "model.onnx" and path.stat().st_size > 0
    assert not list(runs[which].glob("*.tmp"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, outp.name) == ("pixels", "probabilities")
    assert not isinstance(inp.shape[0], int)  # a dynamic batch axis
    assert inp.shape[1:] == list(spec["shape"])
    for n in (1, 7):
        x = raw(spec["shape"], n, spec["pixel_max"], seed=n)
        got = session.run(None, {"pixels": x})[0]
        want = reference(runs[which], x).numpy()
        assert got.shape == (n, len(spec["classes"]))
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_onnx_metadata_round_trips(runs):
    onnx = pytest.importorskip("onnx")
    path = export(runs["rgb"], "onnx", out=runs["rgb"].parent / "rgb-model.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == list(RGB["classes"])
    assert json.loads(props["pixel_max"]) == 255.0
    assert json.loads(props["input_shape"]) == [3, 32, 32]
    assert json.loads(props["genotype"]) == list(RGB["genotype"])
    assert props["arch_name"] == SearchSpace().name(RGB["genotype"])
    meta = read_metadata(path)
    assert meta == json.loads(props["nas4cnn"])
    assert meta["normalization"] == RGB["norm"].to_dict() and meta["class_names"] == list(RGB["classes"])


@pytest.mark.slow
def test_onnx_torch_export_based_exporter(runs, tmp_path):
    """The fallback exporter (torch.export-based, for PyTorch builds without the TorchScript one) works too."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = _export(runs["grey"], "onnx", tmp_path / "dynamo.onnx", onnx_exporter="dynamo")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        x = raw(GREY["shape"], n, GREY["pixel_max"], seed=10 + n)
        np.testing.assert_allclose(session.run(None, {"pixels": x})[0], reference(runs["grey"], x).numpy(),
                                   atol=1e-5, rtol=0)
    assert read_metadata(path)["class_names"] == list(GREY["classes"])


def test_onnx_without_the_extra_says_how_to_install(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    code, out, err = cli_run(capsys, "export", runs["grey"], "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "pip install 'nas4cnn[onnx]'" in err
    assert not (tmp_path / "m.onnx").exists()


# --- TorchScript -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which,spec", ONNX_CASES)
def test_torchscript_export_matches_pytorch(runs, tmp_path, capsys, which, spec):
    out = tmp_path / f"{which}.pt"
    code, stdout, err = cli_run(capsys, "export", runs[which], "--format", "torchscript", "--out", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out} (torchscript,") and len(stdout.splitlines()) == 1
    assert f"probabilities over {len(spec['classes'])} classes ({', '.join(spec['classes'])})" in stdout
    extra = {"nas4cnn.json": ""}
    loaded = torch.jit.load(str(out), _extra_files=extra)
    meta = json.loads(extra["nas4cnn.json"])
    assert meta["class_names"] == list(spec["classes"]) and meta["pixel_max"] == spec["pixel_max"]
    assert meta["input_shape"] == list(spec["shape"]) and meta["genotype"] == list(spec["genotype"])
    assert meta["arch_name"] == SearchSpace().name(spec["genotype"])
    assert read_metadata(out) == meta
    for n in (1, 7):
        x = torch.from_numpy(raw(spec["shape"], n, spec["pixel_max"], seed=20 + n))
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), reference(runs[which], x), atol=1e-5, rtol=0)


def test_read_metadata_refuses_other_files(runs, tmp_path):
    (tmp_path / "x.pt").write_text("no")
    with pytest.raises(RunDirError, match="not a readable TorchScript file"):
        read_metadata(tmp_path / "x.pt")
    with pytest.raises(RunDirError, match="no such file"):
        read_metadata(tmp_path / "missing.pt")


def test_export_default_name_and_folder_out(runs, tmp_path):
    assert export(runs["grey"], "torchscript") == runs["grey"] / "model.torchscript.pt"
    assert export(runs["grey"] / "model.pt", "torchscript", out=tmp_path) == tmp_path / "model.torchscript.pt"


def test_export_makes_a_missing_folder(runs, tmp_path, capsys):
    """As `search --out` and `train --out` make their folder, `export --out` makes the file's."""
    out = tmp_path / "new" / "deeper" / "m.pt"
    assert export(runs["grey"], "torchscript", out=out) == out and read_metadata(out)["input_shape"] == [1, 8, 8]
    code, stdout, err = cli_run(capsys, "export", runs["grey"], "--format", "torchscript", "--out",
                                tmp_path / "cli" / "m.pt")
    assert code == 0 and stdout.startswith(f"wrote {tmp_path / 'cli' / 'm.pt'} (torchscript,"), err


def test_the_file_name_does_not_decide_the_format(runs, tmp_path, capsys):
    code, out, err = cli_run(capsys, "export", runs["grey"], "--format", "torchscript", "--out", tmp_path / "m.onnx")
    assert code == 0 and "(torchscript," in out, err
    assert read_metadata(tmp_path / "m.onnx", "torchscript")["input_shape"] == [1, 8, 8]


def test_failed_export_leaves_the_old_file_and_no_temp(runs, tmp_path, monkeypatch):
    out = tmp_path / "model.pt2"
    out.write_text("old")

    def broken_save(module, f, _extra_files=None):
        with open(f, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch.jit, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export(runs["grey"], "torchscript", out=out)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt2"]


# --- predict ---------------------------------------------------------------------------------------------------


def test_predict_images_match_the_model(runs, images):
    """Image files are converted, resized and scaled to the model's range the way the docs say:
    RGB, stretched to W x H (bilinear), grey by Pillow's luma for a one-channel model, v / 255 * pixel_max."""
    cases = [("grey", "grey8.png", "L"), ("grey", "grey20.png", "L"), ("grey", "rgb48x40.jpg", "L"),
             ("rgb", "rgb32.png", "RGB"), ("rgb", "rgb48x40.jpg", "RGB"), ("rgb", "grey16.jpg", "RGB")]
    for which, name, mode in cases:
        spec = GREY if which == "grey" else RGB
        c, h, w = spec["shape"]
        with Image.open(images / name) as img:
            a = np.asarray(img.convert("RGB").resize((w, h), Image.Resampling.BILINEAR).convert(mode), np.float32)
        x = (a[None] if a.ndim == 2 else a.transpose(2, 0, 1)) / 255 * spec["pixel_max"]
        (p,) = predict(runs[which], images / name)
        want = reference(runs[which], x[None])[0]
        assert p.input == str(images / name)
        np.testing.assert_allclose(p.probabilities, want.numpy(), atol=1e-6)
        assert p.index == int(want.argmax()) and p.class_name == spec["classes"][p.index]
        assert p.probability == max(p.probabilities)


def test_predict_16bit_png_uses_the_full_range(runs, tmp_path):
    a = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    (p,) = predict(runs["grey"], [tmp_path / "deep.png"])
    eight_bit = np.round(a / 65535 * 255)  # as the folder data source reads 16-bit images
    want = reference(runs["grey"], (eight_bit / 255 * GREY["pixel_max"])[None, None])[0]
    np.testing.assert_allclose(p.probabilities, want.numpy(), atol=1e-6)


def test_images_read_as_the_folder_data_source_reads_them(images):
    """A model trained on `folder:` images sees the same pixels from `predict`."""
    folder = pytest.importorskip("nas4cnn.data.sources.folder")
    for name in ("grey20.png", "rgb48x40.jpg", "rgb32.png"):
        train_rgb = folder.read_image(images / name, 24).transpose(2, 0, 1).astype(np.float32)
        np.testing.assert_array_equal(read_image(images / name, (3, 24, 24), 255.0), train_rgb)
        grey = np.asarray(Image.fromarray(train_rgb.transpose(1, 2, 0).astype(np.uint8)).convert("L"), np.float32)
        np.testing.assert_array_equal(read_image(images / name, (1, 24, 24), 255.0), grey[None])


def test_predict_npz_and_arrays(runs, images):
    x = np.load(images / "rgb.npz")["x"]
    preds = predict(runs["rgb"], [images / "rgb.npz", x[:2], torch.from_numpy(x[3:])])
    assert [p.input for p in preds] == [f"{images / 'rgb.npz'}[{i}]" for i in range(4)] + [
        "array1[0]", "array1[1]", "array2[0]"]
    want = reference(runs["rgb"], x).numpy()
    got = np.array([p.probabilities for p in preds])
    np.testing.assert_allclose(got, np.concatenate([want, want[:2], want[3:]]), atol=1e-6)
    grey = predict(runs["grey"], str(images / "grey.npz"))  # N x H x W for a one-channel model
    assert len(grey) == 5 and all(isinstance(p, Prediction) for p in grey)
    top = grey[0].top(3)
    assert [t[0] for t in top][0] == grey[0].class_name and [t[2] for t in top] == sorted(
        (t[2] for t in top), reverse=True)


def test_predict_warns_about_values_outside_the_range(runs, caplog):
    with caplog.at_level("WARNING", logger="nas4cnn.outputs.predict"):
        (p,) = predict(runs["grey"], np.full((1, 8, 8), 200.0))
    assert "values span 200..200 but the model expects raw pixel values in 0..16" in caplog.text
    with pytest.raises(ConfigError, match="no inputs"):
        predict(runs["grey"], [])


def _drawing(size, ink, paper, frame=False):
    """A digit-like stroke (a seven) of colour `ink` on `paper`, as a grey 8-bit image, maybe in a
    one-pixel frame."""
    a = np.full((size, size), paper, np.uint8)
    k = size // 8
    a[k : 2 * k, 2 * k : 6 * k] = ink
    for i in range(2 * k, 7 * k):
        a[i, 6 * k - (i - 2 * k) // 2 - k : 6 * k - (i - 2 * k) // 2] = ink
    if frame:
        a[0], a[-1], a[:, 0], a[:, -1] = ink, ink, ink, ink
    return a


def test_predict_warns_about_inputs_unlike_the_training_images(tmp_path, images, caplog):
    """A digits-like model (8 x 8, white strokes on black): a black-on-white drawing, and a drawing much
    larger than 8 x 8, get one warning line each call; a small white-on-black one, none. The training
    images' border level is recorded at save time, or the digits data set is known by name."""
    dark = torch.zeros((20, 1, 8, 8))
    dark[:, :, 2:6, 3:5] = 16.0
    recorded = make_run(tmp_path / "recorded", **GREY, train_images=dark)
    named = make_run(tmp_path / "named", **GREY, extra={"config": {"data": {"dataset": "digits"}}})
    assert load_bundle(recorded / "model.pt").border_mean == 0.0 and load_bundle(named / "model.pt").border_mean is None
    drawings = {"black-on-white.png": _drawing(8, 0, 255), "framed.png": _drawing(16, 0, 255, frame=True),
                "white-on-black.png": _drawing(8, 255, 0), "large.png": _drawing(64, 255, 0)}
    for name, a in drawings.items():
        Image.fromarray(a).save(tmp_path / name)

    def warnings_for(run, *names):
        caplog.clear()
        with caplog.at_level("WARNING", logger="nas4cnn.outputs.predict"):
            predict(run, [tmp_path / n for n in names])
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]

    for run in (recorded, named):
        assert warnings_for(run, "white-on-black.png") == []
        (line,) = warnings_for(run, "black-on-white.png", "framed.png", "white-on-black.png")
        assert "black-on-white.png, " in line and "white-on-black.png" not in line and "\n" not in line
        assert "framed.png with a bright background (border mean or median above 8 of 0..16)" in line
        (line,) = warnings_for(run, "large.png")
        assert "large.png (64 x 64) much larger than the model's 8 x 8 input" in line
        assert ("(border mean 0.00)" if run is recorded else
                "white strokes on black, the digit centred and filling the image, values 0..16") in line
    with caplog.at_level("WARNING", logger="nas4cnn.outputs.predict"):  # arrays: the background is checked too
        caplog.clear()
        predict(recorded, np.full((4, 8, 8), 16.0))
    assert "array0[0], array0[1], array0[2] and 1 more with a bright background" in caplog.text
    # a model without a recorded level or a known data set: only the size is checked
    plain = make_run(tmp_path / "plain", **GREY)
    assert warnings_for(plain, "black-on-white.png") == []
    assert len(warnings_for(plain, "large.png")) == 1


def test_predict_cli_text_and_json(runs, images, capsys):
    png, npz = images / "grey20.png", images / "grey.npz"
    code, out, err = cli_run(capsys, "predict", runs["grey"], png, npz)
    assert code == 0, err
    lines = out.splitlines()
    preds = predict(runs["grey"], [png, npz])
    assert len(lines) == 6
    for line, p in zip(lines, preds):
        name, cls, prob = line.split()
        assert (name, cls, prob) == (p.input, p.class_name, f"{p.probability:.4f}")

    code, out, err = cli_run(capsys, "predict", runs["grey"], png, npz, "--json", "--top", "2")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == [str(png)] + [f"{npz}[{i}]" for i in range(5)]
    for r, p in zip(rows, preds):
        assert {k: r[k] for k in ("class", "index", "probability")} == {
            "class": p.class_name, "index": p.index, "probability": p.probability}
        assert len(r["top"]) == 2 and r["top"][0]["class"] == r["class"]
        assert r["top"][0]["probability"] >= r["top"][1]["probability"]

    code, out, _ = cli_run(capsys, "predict", runs["grey"], png, "--top", "9")  # more than the 4 classes
    assert code == 0 and out.count(" 0.") == 1 + 4


@pytest.mark.slow
def test_exported_models_predict_the_same_classes(runs, images):
    ort = pytest.importorskip("onnxruntime")
    inputs = {"grey": ["grey8.png", "grey20.png", "rgb48x40.jpg", "grey.npz"],
              "rgb": ["rgb32.png", "rgb48x40.jpg", "grey16.jpg", "rgb.npz"]}
    for which, names in inputs.items():
        paths = [images / n for n in names]
        want = [p.class_name for p in predict(runs[which], paths)]
        bundle = load_bundle(runs[which] / "model.pt")
        _, x = read_inputs(paths, bundle)
        onnx_path = export(runs[which], "onnx", out=runs[which] / "same.onnx")
        ts_path = export(runs[which], "torchscript", out=runs[which] / "same.pt")
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        classes = read_metadata(onnx_path)["class_names"]
        assert [classes[i] for i in session.run(None, {"pixels": x.numpy()})[0].argmax(1)] == want
        with torch.no_grad():
            assert [classes[i] for i in torch.jit.load(str(ts_path))(x).argmax(1)] == want


# --- bad input: one line, exit 2, nothing written ---------------------------------------------------------------


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty").mkdir()
    (d / "text").mkdir()
    (d / "text" / "model.pt").write_text("not a model")
    (d / "pickle").mkdir()  # torch.load(weights_only=True) refuses it with a many-line message
    torch.save({"a": Fraction(1, 3)}, d / "pickle" / "model.pt")
    (d / "notimage.png").write_text("hello")
    np.savez(d / "noX.npz", images=np.zeros((2, 8, 8)))
    np.savez(d / "big.npz", x=np.zeros((2, 1, 28, 28)))
    np.savez(d / "last.npz", x=np.zeros((2, 32, 32, 3)))
    np.savez(d / "flat.npz", x=np.zeros((2, 32, 32)))
    np.savez(d / "nan.npz", x=np.full((2, 8, 8), np.nan))
    (d / "notzip.npz").write_bytes(b"PK\x03\x04 broken")
    return d


ERRORS = [
    (["export", "{bad}/missing", "--format", "torchscript"], "no such folder"),
    (["export", "{bad}/empty", "--format", "torchscript"], "no model.pt in"),
    (["export", "{bad}/text", "--format", "torchscript"], "not a readable nas4cnn model"),
    (["export", "{bad}/pickle", "--format", "torchscript"], "not a readable nas4cnn model"),
    (["predict", "{bad}/pickle", "{bad}/big.npz"], "not a readable nas4cnn model"),
    (["export", "{grey}", "--format", "tflite"], "invalid choice: 'tflite'"),
    (["export", "{grey}", "--format", "torchscript", "--out", "{bad}/notimage.png/sub/m.pt"],
     "cannot make the folder"),
    (["export", "{grey}", "--format", "torchscript", "--out", "{grey}/model.pt"], "the run's own model"),
    (["predict", "{bad}/empty", "{bad}/big.npz"], "no model.pt in"),
    (["predict", "{grey}", "{bad}/missing.png"], "no such file"),
    (["predict", "{grey}", "{bad}/notimage.png"], "cannot read the image"),
    (["predict", "{grey}", "{bad}/noX.npz"], "has no array 'x' (it has: images)"),
    (["predict", "{grey}", "{bad}/big.npz"], "got images of shape 2 x 1 x 28 x 28; the model expects N x 1 x 8 x 8"),
    (["predict", "{rgb}", "{bad}/last.npz"], "channels-last"),
    (["predict", "{rgb}", "{bad}/flat.npz"], "got images of shape 2 x 32 x 32; the model expects N x 3 x 32 x 32"),
    (["predict", "{grey}", "{bad}/nan.npz"], "NaN"),
    (["predict", "{grey}", "{bad}/notzip.npz"], "is not a .npz file"),
    (["predict", "{grey}", "{bad}/empty"], "is a folder"),
    (["predict", "{grey}", "{bad}/big.npz", "--top", "0"], "--top must be an integer >= 1"),
]


@pytest.mark.parametrize("argv,message", ERRORS, ids=[f"{a[0]}-{m[:24]}" for a, m in ERRORS])
def test_bad_input_is_one_line_exit_2(runs, bad, capsys, argv, message):
    before = sorted(p.name for p in bad.rglob("*")) + sorted(p.name for p in runs["grey"].iterdir())
    argv = [a.format(bad=bad, grey=runs["grey"], rgb=runs["rgb"]) for a in argv]
    code, out, err = cli_run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err
    after = sorted(p.name for p in bad.rglob("*")) + sorted(p.name for p in runs["grey"].iterdir())
    assert after == before  # nothing written, not even a temp file


def _foreign_model_files(d, good):
    """model.pt files that are not nas4cnn models, or are damaged ones: name -> why it is refused."""
    data = good.read_bytes()
    files = {
        "text": (b"not a model", "not a PyTorch model file"),
        "empty": (b"", "the file is empty"),
        "binary": (bytes(range(256)) * 4, "not a PyTorch model file"),
        "truncated": (data[: len(data) // 2], "a damaged PyTorch file"),
        "zip": (b"PK\x03\x04 broken", "a damaged PyTorch file"),
    }
    for name, (content, _) in files.items():
        (d / f"{name}.pt").write_bytes(content)
    torch.save({"a": Fraction(1, 3)}, d / "objects.pt")  # weights_only refuses it with a many-line message
    torch.save({"state_dict": {"w": torch.zeros(2)}}, d / "foreign.pt")  # a PyTorch file of someone else's
    payload = torch.load(good, weights_only=True)
    del payload["arch"]
    torch.save(payload, d / "damaged.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(d / "torchscript.pt"))
    np.save(d / "array.npy", np.zeros(3))
    (d / "array.npy").rename(d / "array.pt")
    return {**{n: why for n, (_, why) in files.items()},
            "objects": "holding more than tensors", "foreign": "not a model saved by nas4cnn",
            "damaged": "damaged contents: KeyError", "torchscript": "a damaged PyTorch file",
            "array": "not a PyTorch model file"}


def test_foreign_or_corrupt_model_is_one_short_line(runs, tmp_path, capsys):
    """load_bundle's error names the file and says it is not a readable nas4cnn model, in one short line:
    none of torch's many-line advice, no bare numbers, no warnings on stderr."""
    cases = _foreign_model_files(tmp_path, runs["grey"] / "model.pt")
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 8, 8)))
    for name, why in cases.items():
        path = tmp_path / f"{name}.pt"
        with pytest.raises(RunDirError) as e:
            load_bundle(path)
        msg = str(e.value)
        assert msg == f"model: {str(path)!r} is not a readable nas4cnn model ({msg.split(' model (', 1)[1]}"
        assert why in msg and len(msg.splitlines()) == 1 and len(msg) < 200, msg
        assert "weights_only" not in msg and "\x1b" not in msg, msg
        for argv in (["export", path, "--format", "torchscript", "--out", tmp_path / "x.pt"],
                     ["predict", path, tmp_path / "x.npz"]):
            code, out, err = cli_run(capsys, *argv)
            assert code == 2 and out == "" and err.strip().splitlines() == [f"nas4cnn {argv[0]}: error: {msg}"]
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_errors_in_a_real_process(runs, bad):
    """The installed command, as a user runs it: one line on stderr, exit 2, no traceback."""
    r = subprocess.run([sys.executable, "-m", "nas4cnn", "predict", str(runs["rgb"]), str(bad / "flat.npz")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"nas4cnn predict: error: {bad / 'flat.npz'}: x: got images of shape 2 x 32 x 32; the model expects "
        "N x 3 x 32 x 32; grey images, but the model takes 3 channels"]


@pytest.mark.slow
def test_real_trained_run_end_to_end(tmp_path, capsys):
    """`nas4cnn train --out`, then export and predict: predict on the test split gives the reported test
    error, and the ONNX file gives the same classes."""
    from nas4cnn.data.sources.digits import load_digits

    result = api.train("2,0,0,1,6", epochs=1, out=tmp_path / "run")
    test = load_digits().test
    np.savez(tmp_path / "test.npz", x=test.x.numpy())
    preds = predict(tmp_path / "run", tmp_path / "test.npz")
    assert [p.class_name for p in preds] == [str(p.index) for p in preds]  # digits' classes are "0".."9"
    error = float(np.mean([p.index != y for p, y in zip(preds, test.y.tolist())]))
    assert error == pytest.approx(result.metrics()["test_error"])
    # a user's own drawing, black on white and large: one warning line on the command line's stderr
    Image.fromarray(_drawing(120, 0, 255)).save(tmp_path / "seven.png")
    r = subprocess.run([sys.executable, "-m", "nas4cnn", "predict", str(tmp_path / "run"), str(tmp_path / "seven.png")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("WARNING ") and "seven.png (120 x 120) much larger" in line and "bright background" in line
    ort = pytest.importorskip("onnxruntime")
    code, out, err = cli_run(capsys, "export", tmp_path / "run", "--format", "onnx")
    assert code == 0 and "over 10 classes" in out, err
    session = ort.InferenceSession(str(tmp_path / "run" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"pixels": test.x.numpy()})[0].argmax(1).tolist() == [p.index for p in preds]


def test_api_is_exposed():
    assert api.export is export and api.predict is predict
