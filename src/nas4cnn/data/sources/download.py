"""Where the named data sets' files live, and fetching missing ones from their official sources.

Files go to ``--data-dir`` if given, else to a cache folder: ``$NAS4CNN_DATA/<name>``, or
``$XDG_CACHE_HOME/nas4cnn/<name>`` (default ``~/.cache/nas4cnn/<name>``). A download is written
to a temporary file next to its destination, its checksum is compared with the official one, and
only then is it renamed into place: an interrupted or corrupt download leaves nothing behind.

``NAS4CNN_DATA_MIRROR=URL`` replaces the official sources by ``URL/<name>/<file>`` (a local
mirror, or a test server).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nas4cnn.core.errors import DataError

log = logging.getLogger(__name__)

MIRROR_ENV = "NAS4CNN_DATA_MIRROR"
CACHE_ENV = "NAS4CNN_DATA"
TIMEOUT_S = 60
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """Official base URLs (tried in order while one cannot be reached) and the files' checksums
    as 'algorithm:hex digest' (any hashlib algorithm)."""

    mirrors: tuple[str, ...]
    files: dict[str, str]


# The official files and their MD5 sums, as published by the data sets' authors and used by
# torchvision's dataset classes.
SOURCES: dict[str, Source] = {
    "mnist": Source(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        {
            "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": Source(
        ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        {
            "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "kmnist": Source(
        ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
        {
            "train-images-idx3-ubyte.gz": "md5:bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "md5:e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "md5:5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "md5:7320c461ea6c1c855c0b718fb2a4b134",
        },
    ),
    "cifar10": Source(
        ("https://www.cs.toronto.edu/~kriz/",),
        {"cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a"},
    ),
}


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "nas4cnn"


def data_folder(name: str, data_dir: str) -> Path:
    """The folder holding a named data set's files: `data_dir`, or its cache folder."""
    return Path(data_dir).expanduser() if data_dir else cache_root() / name


def mirrors(name: str) -> tuple[str, ...]:
    override = os.environ.get(MIRROR_ENV)
    if override:
        return (f"{override.rstrip('/')}/{name}/",)
    return SOURCES[name].mirrors


def missing_error(name: str, filename: str, folder: Path) -> DataError:
    return DataError(
        f"data set {name!r}: {filename} is not in {str(folder)!r}; pass --download to fetch it, "
        "or --data-dir FOLDER where the files are"
    )


def fetch(name: str, filename: str, folder: Path, progress: bool | None = None) -> Path:
    """Download one official file of data set `name` into `folder`, checked against its
    checksum; returns its path. `progress` None: a progress bar when stderr is a terminal."""
    algorithm, _, expected = SOURCES[name].files[filename].partition(":")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"data set {name!r}: cannot create the folder {str(folder)!r}: {e.strerror or e}") from None
    dest = folder / filename
    failures = []
    for base in mirrors(name):
        url = base + filename
        log.info("downloading %s to %s", url, dest)
        try:
            fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        except OSError as e:
            raise DataError(f"data set {name!r}: cannot write in {str(folder)!r}: {e.strerror or e}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    got = _copy(url, out, algorithm, filename, progress)
                except urllib.error.HTTPError as e:
                    failures.append(f"{url}: HTTP {e.code} {e.reason}")
                    continue
                except urllib.error.URLError as e:
                    failures.append(f"{url}: {e.reason}")
                    continue
                except (http.client.HTTPException, OSError, ValueError) as e:  # timeouts, resets, bad URLs
                    failures.append(f"{url}: {type(e).__name__}: {e}")
                    continue
            if got != expected:
                raise DataError(
                    f"data set {name!r}: checksum mismatch for {filename} from {url}: expected {algorithm} "
                    f"{expected}, got {got}; the download was discarded"
                )
            try:
                os.replace(tmp, dest)
            except OSError as e:
                raise DataError(f"data set {name!r}: cannot save {str(dest)!r}: {e.strerror or e}") from None
            log.info("saved %s (%s verified)", dest, algorithm)
            return dest
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    raise DataError(
        f"data set {name!r}: could not download {filename} ({'; '.join(failures)}); check the connection, "
        f"set {MIRROR_ENV}, or put the file in {str(folder)!r} yourself"
    )


def _copy(url: str, out, algorithm: str, filename: str, progress: bool | None) -> str:
    """Stream `url` into `out`; returns the hex digest of what was written."""
    from tqdm.auto import tqdm

    h = hashlib.new(algorithm)
    request = urllib.request.Request(url, headers={"User-Agent": "nas4cnn"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, desc=filename, unit="B", unit_scale=True, unit_divisor=1024,
                  disable=None if progress is None else not progress, leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
                bar.update(len(chunk))
    return h.hexdigest()
