"""The fused CPU training step: forward, backward and Adamax of a stacked group in one C call.

On a CPU the PyTorch engine spends most of a small group's step in per-operation overhead
and in separate passes over memory for each element-wise operation. `fused_step.c` does the
same arithmetic as `StackedGroup.train_step` followed by `FastAdamax.step` (to float
rounding), with its matrix products in the BLAS PyTorch itself uses. It is compiled on
first use with the system's C compiler (`cc`, or $CC) for this machine's CPU and cached
(under $NAS4CNN_CACHE, else $XDG_CACHE_HOME/nas4cnn or ~/.cache/nas4cnn). Without a
compiler, without PyTorch's BLAS symbol, or with NAS4CNN_FUSED=0, the engine uses PyTorch
alone: the same results to float rounding, more slowly.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from nas4cnn.nn.activations import get_activation
from nas4cnn.nn.optimizers import FastAdamax
from nas4cnn.nn.stacked import StackedGroup

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("fused_step.c")
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared"]
POOL_CODES = {"id": 0, "max": 1, "avg": 2}


class _Group(ctypes.Structure):
    """Mirrors `Group` in fused_step.c."""

    _fields_ = (
        [(n, ctypes.c_int) for n in ("P", "F", "S", "kk", "Kc", "L", "NC", "pool", "Bmax")]
        + [("act", ctypes.c_void_p)]
        + [(n, ctypes.c_void_p) for n in ("conv", "w1", "b1", "w2", "b2", "gconv", "gw1", "gb1", "gw2", "gb2")]
        + [("conv_mask", ctypes.c_void_p), ("w2_mask", ctypes.c_void_p)]
        + [(n, ctypes.c_void_p) for n in ("flat", "grad", "m", "u")]
        + [("size", ctypes.c_int64)]
        + [(n, ctypes.c_void_p) for n in ("A", "y", "aux", "h", "dh", "dy", "z1", "a1", "dz1", "lp")]
        + [(n, ctypes.c_void_p) for n in ("arg", "loss", "wrong", "alive", "last_nll", "sgemm")]
    )


_LIB: list = []  # [library or None], once tried


def _machine_id() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features")):
                cpu += line
                if line.startswith(("flags", "Features")):
                    break
    except OSError:
        pass
    return f"{platform.machine()} {platform.system()} {cpu}"


def _cache_dir() -> Path:
    if os.environ.get("NAS4CNN_CACHE"):
        return Path(os.environ["NAS4CNN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nas4cnn"


def _sgemm() -> int | None:
    """The address of the Fortran-interface sgemm in PyTorch's CPU library, if it exports one."""
    name = "libtorch_cpu.dylib" if sys.platform == "darwin" else "libtorch_cpu.so"
    path = Path(torch.__file__).parent / "lib" / name
    try:
        fn = getattr(ctypes.CDLL(str(path)), "sgemm_")
    except (OSError, AttributeError):
        return None
    return ctypes.cast(fn, ctypes.c_void_p).value


def _build() -> tuple[ctypes.CDLL | None, str]:
    sgemm = _sgemm()
    if sgemm is None:
        return None, "PyTorch's library exports no sgemm"
    cc = shlex.split(os.environ.get("CC", "cc"))
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, " ".join(cc + FLAGS).encode(), _machine_id().encode()])).hexdigest()
    target = _cache_dir() / f"fused_step-{key[:16]}.so"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
            os.close(fd)
            try:
                run = subprocess.run([*cc, *FLAGS, "-o", tmp, str(SOURCE), "-lm"], capture_output=True, text=True)
                if run.returncode != 0:
                    detail = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
                    return None, f"{cc[0]} failed: {detail}"
                os.replace(tmp, target)  # atomic: processes building at once each install a whole file
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as e:
            return None, f"cannot build it ({e})"
    try:
        lib = ctypes.CDLL(str(target))
    except OSError as e:
        return None, f"cannot load {target} ({e})"
    lib.nas_step.restype = ctypes.c_int
    lib.nas_step.argtypes = [ctypes.POINTER(_Group), ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_float, ctypes.c_float,
                             ctypes.c_float, ctypes.c_float]
    lib.sgemm_address = sgemm
    return lib, ""


def library() -> ctypes.CDLL | None:
    """The built library, or None where it cannot be used (the reason is logged once)."""
    if not _LIB:
        lib, why = _build()
        if lib is None:
            log.info("fused CPU step unavailable (%s): training with PyTorch operations", why)
        _LIB.append(lib)
    return _LIB[0]


def available() -> bool:
    """Whether the engine should use the fused step (not if NAS4CNN_FUSED=0)."""
    return os.environ.get("NAS4CNN_FUSED", "1") != "0" and library() is not None


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class FusedStep:
    """Fused steps for one `StackedGroup` trained with Adamax (`optimizers.FastAdamax`'s state).
    Build a new one after the group or the optimiser changes (`select`)."""

    def __init__(self, group: StackedGroup, opt: FastAdamax, batch_size: int, alive: torch.Tensor):
        lib = library()
        if lib is None or group.device.type != "cpu" or group.flat.dtype != torch.float32:
            raise RuntimeError("FusedStep needs the fused library and a float32 group on the CPU")
        self.lib, self.group, self.opt = lib, group, opt
        P, F_, S, kk, L, NC = group.P, group.F, group.S, group.kk, group.L, group.num_classes
        Kc = group.params[0].shape[0]
        B = batch_size
        R, PF = B * S, P * F_
        e = lambda n, dtype=torch.float32: torch.empty(n, dtype=dtype)  # noqa: E731
        self.act = torch.tensor([get_activation(a.activation).code for a in group.archs], dtype=torch.int32)
        ws = dict(A=e(kk * R * Kc), y=e(kk * R * PF), aux=e(kk * R * PF), h=e(R * PF), dh=e(R * F_),
                  dy=e(kk * R * F_), z1=e(P * B * L), a1=e(P * B * L), dz1=e(P * B * L), lp=e(P * B * NC),
                  arg=e(R * PF, torch.uint8))
        self.loss = torch.zeros(P, dtype=torch.float64)
        self.wrong = torch.zeros(P, dtype=torch.float64)
        self.last_nll = torch.zeros(P, dtype=torch.float32)
        self.alive = alive.to(torch.uint8).contiguous()
        pool = "id" if kk == 1 else group.pool.kind
        masks = group._masks
        self._keep = (ws, self.act, masks)  # the C struct points into these
        self.s = _Group(
            P, F_, S, kk, Kc, L, NC, POOL_CODES[pool], B, _ptr(self.act),
            *(_ptr(t) for t in group.params), *(_ptr(t) for t in group.grads),
            _ptr(masks.get(0)), _ptr(masks.get(3)),
            _ptr(group.flat), _ptr(group.grad), _ptr(opt.exp_avg[0]), _ptr(opt.exp_inf[0]), group.flat.numel(),
            *(_ptr(ws[n]) for n in ("A", "y", "aux", "h", "dh", "dy", "z1", "a1", "dz1", "lp", "arg")),
            _ptr(self.loss), _ptr(self.wrong), _ptr(self.alive), _ptr(self.last_nll), lib.sgemm_address,
        )
        for t in (group.flat, group.grad, opt.exp_avg[0], opt.exp_inf[0], *masks.values()):
            if not t.is_contiguous():
                raise RuntimeError("FusedStep: the group's tensors must be contiguous")

    def step(self, cols: torch.Tensor, n_img: int, cidx: torch.Tensor | None, y: torch.Tensor,
             lidx: torch.Tensor | None, batch: int) -> int:
        """One step on `batch` images: their patches are `cols` (kk x n_img x S x Kc), the
        images at `cidx` (the first `batch` if None), their labels `y[lidx]` (or `y`). Returns
        how many candidates died (their loss became NaN or infinite)."""
        opt = self.opt
        b1, b2 = opt.betas
        return self.lib.nas_step(ctypes.byref(self.s), cols.data_ptr(), n_img, _ptr(cidx), y.data_ptr(), _ptr(lidx),
                                 batch, opt.advance(), opt.wd, b1, b2, opt.eps)
