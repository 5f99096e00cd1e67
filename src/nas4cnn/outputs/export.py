"""Export a run's final model as one self-contained file: raw pixels in, class probabilities out.

The exported graph is Normalize (the run's per-channel input map) -> CNN (log-probabilities)
-> exp, so a user feeds images exactly as the data set stores them (float32, N x C x H x W,
values in 0..pixel_max) and gets an N x K matrix of class probabilities. The batch axis is
dynamic. The class names, pixel range, input shape, architecture name and genotype travel
with the file: as ONNX `metadata_props`, or as the TorchScript extra file `nas4cnn.json`.
"""

from __future__ import annotations

import inspect
import json
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from nas4cnn.core import rundir
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.nn.checkpoint import Bundle, ProbabilityModel, load_run_bundle

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
DEFAULT_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
METADATA_FORMAT = "nas4cnn-export/1"
METADATA_KEY = "nas4cnn"  # ONNX metadata_props key holding the whole metadata as JSON
METADATA_FILE = "nas4cnn.json"  # TorchScript extra file holding the same JSON
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
ONNX_OPSET = 17  # the TorchScript-based exporter supports up to 20; 17 runs on onnxruntime >= 1.13
ONNX_EXPORTERS = ("auto", "legacy", "dynamo")
INSTALL_HINT = "pip install 'nas4cnn[onnx]'"
_TOLERANCE = 1e-4  # largest probability difference accepted when checking the written file


def metadata(bundle: Bundle) -> dict:
    """What goes with an exported file, so that a user can read its output without nas4cnn."""
    c, h, w = bundle.input_shape
    return {
        "format": METADATA_FORMAT,
        "class_names": list(bundle.class_names),
        "pixel_max": bundle.pixel_max,
        "input_shape": list(bundle.input_shape),
        "arch_name": bundle.arch_name,
        "genotype": list(bundle.genotype),
        "normalization": bundle.normalization.to_dict(),
        "input": f"{INPUT_NAME}: float32 N x {c} x {h} x {w}, raw pixel values in 0..{bundle.pixel_max:g}",
        "output": f"{OUTPUT_NAME}: float32 N x {len(bundle.class_names)}, class probabilities in "
                  "the order of class_names",
    }


def default_output(run_dir: str | Path, format: str) -> Path:
    path = Path(run_dir)
    folder = path.parent if path.is_file() else path
    return folder / DEFAULT_NAMES[format]


def export(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None) -> Path:
    """Write the run's final model (RUN_DIR/model.pt) as a self-contained ONNX or TorchScript file
    taking raw pixels and returning class probabilities; return where it was written.

    `out` defaults to RUN_DIR/model.onnx or RUN_DIR/model.torchscript.pt; an existing folder
    receives the default name, and a missing parent folder is made (as `search --out` makes its
    folder), once the model has been read. The file is written atomically: a reader sees the old
    file or the whole new one. ONNX needs the optional extra: pip install 'nas4cnn[onnx]'.
    """
    return _export(run_dir, format, out)


def _export(run_dir: str | Path, format: str, out: str | Path | None, onnx_exporter: str = "auto") -> Path:
    if format not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}; got {format!r}")
    if format == "onnx":
        _require_onnx()
    bundle, source = load_run_bundle(run_dir)
    target = _output_path(run_dir, format, out, source)
    module = ProbabilityModel(bundle)
    meta = metadata(bundle)
    rundir.make_run_dir(target.parent)
    with rundir.atomic_path(target, "--out") as tmp:
        if format == "onnx":
            _write_onnx(module, bundle, meta, tmp, onnx_exporter)
        else:
            _write_torchscript(module, bundle, meta, tmp)
    log.info("exported %s (%s) to %s", bundle.arch_name, format, target)
    return target


def read_metadata(path: str | Path, format: str | None = None) -> dict:
    """The metadata stored with a file written by `export` in `format` (by default the one
    its name says: .onnx, else TorchScript)."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"export: no such file {str(path)!r}")
    if format is None:
        format = "onnx" if path.suffix.lower() == ".onnx" else "torchscript"
    onnx = _require_onnx() if format == "onnx" else None
    try:
        if onnx is not None:
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            text = props.get(METADATA_KEY)
        else:
            extra = {METADATA_FILE: ""}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
            text = extra[METADATA_FILE] or None
        meta = json.loads(text) if text else None
    except Exception as e:  # not an ONNX / TorchScript file at all
        what = "ONNX" if onnx is not None else "TorchScript"
        detail = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise RunDirError(f"export: {str(path)!r} is not a readable {what} file: {detail}") from None
    if not isinstance(meta, dict):
        raise RunDirError(f"export: {str(path)!r} carries no nas4cnn metadata")
    return meta


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError(f"ONNX export needs the optional onnx packages; install them with: {INSTALL_HINT}") from None
    return onnx


def _output_path(run_dir: str | Path, format: str, out: str | Path | None, source: Path) -> Path:
    target = default_output(run_dir, format) if out is None else Path(out)
    if target.is_dir():
        target = target / DEFAULT_NAMES[format]
    if target.exists() and target.resolve() == source.resolve():
        raise ConfigError(f"--out: {str(target)!r} is the run's own model; choose another file")
    return rundir.check_output_file(target, "--out")


def _example(bundle: Bundle, n: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *bundle.input_shape), generator=g) * bundle.pixel_max


def _write_torchscript(module: ProbabilityModel, bundle: Bundle, meta: dict, path: Path) -> None:
    with warnings.catch_warnings():  # torch.jit is deprecated upstream but still the portable format
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module)
        torch.jit.save(scripted, str(path), _extra_files={METADATA_FILE: json.dumps(meta)})
        loaded = torch.jit.load(str(path), map_location="cpu")
    x = _example(bundle, 5)
    with torch.no_grad():
        _check_close("TorchScript", loaded(x), module(x))


def _write_onnx(module: ProbabilityModel, bundle: Bundle, meta: dict, path: Path, exporter: str) -> None:
    onnx = _require_onnx()
    with tempfile.TemporaryDirectory(prefix="nas4cnn-export-") as d:
        raw = Path(d) / "model.onnx"
        used = _torch_onnx_export(module, _example(bundle), raw, exporter)
        proto = onnx.load(str(raw))
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    proto.doc_string = (f"nas4cnn {bundle.arch_name}: {meta['input']} -> {meta['output']}; "
                        f"class names in metadata_props[{METADATA_KEY!r}]")
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    log.info("ONNX graph written with the %s exporter, opset %s", used,
             max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default="?"))
    _verify_onnx(module, bundle, path)


def _torch_onnx_export(module: nn.Module, example: torch.Tensor, path: Path, exporter: str = "auto") -> str:
    """Export with PyTorch's TorchScript-based exporter (fast, needs only onnx), falling back to the
    torch.export-based one (needs onnxscript) where the former is missing or fails."""
    if exporter not in ONNX_EXPORTERS:
        raise ConfigError(f"ONNX exporter: expected one of {ONNX_EXPORTERS}; got {exporter!r}")
    if exporter in ("auto", "legacy"):
        try:
            # PyTorch before 2.5 has no `dynamo` flag: its torch.onnx.export is the TorchScript-based one
            legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(
                    module, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    opset_version=ONNX_OPSET, do_constant_folding=True, **legacy,
                )
            return "TorchScript-based"
        except Exception as e:
            if exporter == "legacy":
                raise
            log.info("the TorchScript-based ONNX exporter failed (%s); trying the torch.export-based one", e)
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError(f"ONNX export with this PyTorch needs onnxscript; install it with: {INSTALL_HINT}") from None
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [q.level for q in quiet]
    try:
        for q in quiet:
            q.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch")
            torch.onnx.export(
                module, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},), dynamo=True, external_data=False, verbose=False,
            )
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    return "torch.export-based"


def _verify_onnx(module: ProbabilityModel, bundle: Bundle, path: Path) -> None:
    """Run the written file with onnxruntime, where installed, against the PyTorch model."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.info("onnxruntime is not installed; the exported file was not run for a check")
        return
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 3):
        x = _example(bundle, n, seed=n)
        got = torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0])
        with torch.no_grad():
            _check_close("ONNX", got, module(x))


def _check_close(what: str, got: torch.Tensor, want: torch.Tensor) -> None:
    diff = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
    if not diff <= _TOLERANCE:
        raise RuntimeError(f"the exported {what} model disagrees with the PyTorch model (largest probability "
                           f"difference {diff:.3g}); nothing was written")
