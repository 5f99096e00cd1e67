"""The run's durable store: an SQLite database (WAL mode, one writer) in the run directory.

Contract:
- every trained network is committed as soon as its training group finishes, in one
  transaction per group, and once only (the canonical genotype is unique);
- a generation is committed (its requested genotypes, its record, and the strategy's state
  after it) only after all its evaluations are;
- committed rows never change; `finish` marks the run finished and stores the final model's
  metrics.
The run's full config and its hash are stored at creation; the summary can be rebuilt from
the store alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import sqlite3
import time
from pathlib import Path

from nas4cnn.core.errors import RunDirError, option_prefix
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.searching.history import Generation

try:
    import fcntl
except ImportError:  # not on Windows: runs there are not guarded against a second writer
    fcntl = None

SCHEMA_VERSION = 3  # 2: early stopping (status 'stopped', column checks); 3: epochs always given
# (older stores wrote NULL for the configured epochs). Versions 1 and 2 are upgraded on open.
FILENAME = "run.db"

# Fault injection for the resume tests: the process kills itself (SIGKILL) right after its
# N-th commit, i.e. between one evaluation finishing and the next starting; or, as if Ctrl-C
# were pressed then, sends itself SIGINT once.
_CRASH_AFTER = int(os.environ.get("NAS4CNN_CRASH_AFTER_COMMITS") or 0)
_INTERRUPT_AFTER = int(os.environ.get("NAS4CNN_INTERRUPT_AFTER_COMMITS") or 0)
_commits = 0


def _committed() -> None:
    global _commits
    _commits += 1
    if _CRASH_AFTER and _commits >= _CRASH_AFTER:
        os.kill(os.getpid(), signal.SIGKILL)
    if _INTERRUPT_AFTER and _commits == _INTERRUPT_AFTER:
        signal.raise_signal(signal.SIGINT)  # handled here, synchronously, as Ctrl-C would be at this point

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    canonical TEXT NOT NULL,
    epochs INTEGER NOT NULL,
    arch TEXT NOT NULL,
    params INTEGER NOT NULL,
    val_error REAL,
    val_nll REAL,
    objective REAL,
    seconds REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'pruned', 'stopped')),
    reason TEXT,
    checks TEXT,
    UNIQUE (canonical, epochs)
);
CREATE TABLE generations (
    generation INTEGER PRIMARY KEY,
    genotypes TEXT NOT NULL,
    epochs INTEGER NOT NULL,
    global_best REAL,
    local_best REAL,
    best_genotype TEXT,
    best_arch TEXT,
    strategy_state TEXT NOT NULL,
    seconds REAL NOT NULL
);
"""


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _num(x: float | None) -> float | None:
    """SQLite has no infinity or NaN that survive JSON: store them as NULL."""
    return None if x is None or not math.isfinite(x) else float(x)


def _from_num(x: float | None, missing: float) -> float:
    return missing if x is None else float(x)


def _lock(run_dir: Path, what: str) -> int | None:
    """An exclusive lock on the run directory, held while the store is open and dropped by the
    kernel when the process ends however it ends: two processes never write one run."""
    if fcntl is None:
        return None
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunDirError(f"{option_prefix(what)}the run in {str(run_dir)!r} is in use by another nas4cnn process; "
                          "wait for it to end, or stop it first") from None
    except OSError:  # a file system without locks
        pass
    return fd


class RunStore:
    def __init__(self, path: Path, conn: sqlite3.Connection, lock: int | None = None,
                 old_schema: tuple[str, int] | None = None):
        self.path = path
        self.conn = conn
        self._lock = lock
        # An older store opened only to read is read as if upgraded, not changed: its version
        # and the configured epochs its NULLs stand for.
        self._old = old_schema

    @classmethod
    def create(cls, run_dir: str | Path, config: dict, info: dict) -> RunStore:
        path = Path(run_dir) / FILENAME
        lock = _lock(Path(run_dir), "--out")
        if path.exists():
            cls._unlock(lock)
            raise RunDirError(f"--out: {str(path)!r} already exists; choose a new folder")
        rows = {
            "schema_version": str(SCHEMA_VERSION),
            "config": json.dumps(config, sort_keys=True),
            "config_hash": config_hash(config),
            "info": json.dumps(info, sort_keys=True),
            "status": "running",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        conn = None
        try:
            conn = cls._connect(path)
            with conn:
                conn.executescript(_SCHEMA)
                conn.executemany("INSERT INTO meta VALUES (?, ?)", rows.items())
        except (sqlite3.Error, OSError) as e:
            if conn is not None:
                conn.close()
            for name in (FILENAME, FILENAME + "-wal", FILENAME + "-shm"):  # no half-made store is left
                with contextlib.suppress(OSError):
                    (path.parent / name).unlink()
            cls._unlock(lock)
            raise RunDirError(f"--out: cannot create the run store {str(path)!r} ({e})") from None
        return cls(path, conn, lock)

    @classmethod
    def open(cls, run_dir: str | Path, what: str = "--resume", write: bool = True) -> RunStore:
        """The store of an existing run. With `write` (to continue or rebuild it) the run must not
        be open for writing in another process; `what` names the request in error messages
        (the option, or "" where the run directory is the command's only argument)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"{option_prefix(what)}no run directory {str(run_dir)!r}")
        path = run_dir / FILENAME
        if not path.is_file():
            raise RunDirError(f"{option_prefix(what)}{str(run_dir)!r} has no {FILENAME}; "
                              "is it a nas4cnn run directory?")
        lock = _lock(run_dir, what) if write else None
        try:
            return cls._open(path, what, lock, write)
        except BaseException:
            cls._unlock(lock)
            raise

    @classmethod
    def _open(cls, path: Path, what: str, lock: int | None, write: bool) -> RunStore:
        conn, old = None, None
        try:
            conn = cls._connect(path)
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            conn.execute("SELECT count(*) FROM evaluations").fetchone()
            conn.execute("SELECT count(*) FROM generations").fetchone()
            version = meta.get("schema_version")
            if version not in ("1", "2", str(SCHEMA_VERSION)):
                raise RunDirError(f"{option_prefix(what)}{str(path)!r} has store schema version {version!r}; "
                                  f"this nas4cnn reads version {SCHEMA_VERSION}")
            for key in ("config", "config_hash", "status", "info"):
                if key not in meta:
                    raise RunDirError(f"{option_prefix(what)}{str(path)!r} is damaged: its '{key}' record is missing")
            if version in ("1", "2"):
                try:
                    epochs = int(json.loads(meta["config"])["train"]["epochs"])  # NULL meant the configured epochs
                except (ValueError, TypeError, KeyError):
                    raise RunDirError(f"{option_prefix(what)}{str(path)!r} is damaged: its config names no "
                                      "training epochs") from None
                if write:
                    cls._upgrade(conn, version, epochs)
                else:
                    old = (version, epochs)
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise RunDirError(f"{option_prefix(what)}{str(path)!r} is not a readable run store ({e})") from None
        except RunDirError:
            conn.close()
            raise
        return cls(path, conn, lock, old)

    @staticmethod
    def _upgrade(conn: sqlite3.Connection, version: str, epochs: int) -> None:
        """Bring a store of schema 1 or 2 to the current one, in one transaction."""
        with conn:
            if version == "1":  # no early stopping yet: add the checks column (a run of version 1 never stops one)
                conn.execute("ALTER TABLE evaluations ADD COLUMN checks TEXT")
            conn.execute("UPDATE evaluations SET epochs = ? WHERE epochs IS NULL", (epochs,))
            conn.execute("UPDATE generations SET epochs = ? WHERE epochs IS NULL", (epochs,))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level="DEFERRED")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a committed evaluation survives power loss
        return conn

    def meta(self, key: str) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    @property
    def config(self) -> dict:
        return json.loads(self.meta("config"))

    @property
    def info(self) -> dict:
        return json.loads(self.meta("info"))

    @property
    def status(self) -> str:
        return self.meta("status")

    def add_evaluations(self, generation: int, evaluations: list[Evaluation]) -> None:
        """Commit the records of networks trained (or pruned) for `generation`, in one
        transaction. Each record is the trained network's own: its genotype is canonical."""
        with self.conn:
            self.conn.executemany(
                "INSERT INTO evaluations (generation, canonical, epochs, arch, params, val_error, val_nll, objective,"
                " seconds, status, reason, checks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (generation, json.dumps(list(e.genotype)), e.epochs, e.arch, e.params, _num(e.val_error),
                     _num(e.val_nll), _num(e.objective), e.seconds, e.status.value, e.reason,
                     None if e.checks is None else json.dumps({str(k): v for k, v in e.checks.items()}))
                    for e in evaluations
                ],
            )
        _committed()

    def add_generation(self, g: Generation) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (g.generation, json.dumps([list(x) for x in g.genotypes]), g.epochs, _num(g.global_best),
                 _num(g.local_best), json.dumps(list(g.best_genotype)) if g.best_genotype else None,
                 g.best_arch, json.dumps(g.strategy_state), g.seconds),
            )
        _committed()

    def evaluations(self) -> list[tuple[int, Evaluation]]:
        """Every committed record with the generation that trained it, in commit order."""
        checks = "NULL" if self._old and self._old[0] == "1" else "checks"
        rows = self.conn.execute(
            "SELECT generation, canonical, arch, params, val_error, val_nll, objective, seconds, status, reason,"
            f" epochs, {checks} FROM evaluations ORDER BY id"
        )
        inf, nan = float("inf"), float("nan")
        return [
            (g, Evaluation(genotype=tuple(json.loads(c)), arch=a, params=p, epochs=self._epochs(ep), status=Status(st),
                           reason=r,
                           val_error=_from_num(ve, nan), val_nll=_from_num(vn, nan), objective=_from_num(o, inf),
                           seconds=s, checks=None if ch is None else {int(k): float(v)
                                                                      for k, v in json.loads(ch).items()}))
            for g, c, a, p, ve, vn, o, s, st, r, ep, ch in rows
        ]

    def generations(self) -> list[Generation]:
        rows = self.conn.execute("SELECT * FROM generations ORDER BY generation")
        inf = float("inf")
        return [
            Generation(generation=g, genotypes=[tuple(x) for x in json.loads(gs)], epochs=self._epochs(ep),
                       global_best=_from_num(gb, inf), local_best=_from_num(lb, inf),
                       best_genotype=tuple(json.loads(bg)) if bg else None, best_arch=ba,
                       strategy_state=json.loads(st), seconds=sec)
            for g, gs, ep, gb, lb, bg, ba, st, sec in rows
        ]

    def _epochs(self, stored: int | None) -> int:
        return self._old[1] if stored is None else stored

    def end_search(self, record: dict) -> None:
        """Record that the search ended before its last generation, and why (a time budget):
        a resumed run then goes on to the final model instead of searching further."""
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('search_end', ?)", (json.dumps(record),))
        _committed()

    @property
    def search_end(self) -> dict | None:
        """Why the search ended early (see `end_search`), or None."""
        value = self.meta("search_end")
        return json.loads(value) if value else None

    def record_shortlist(self, record: dict) -> None:
        """Record the shortlist's networks, trained on all the data, and its winner (see
        `nas4cnn.api.shortlist`): a resumed run then goes straight on to the final model."""
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('shortlist', ?)", (json.dumps(record),))
        _committed()

    @property
    def shortlist(self) -> dict | None:
        """The shortlist's record (see `record_shortlist`), or None."""
        value = self.meta("shortlist")
        return json.loads(value) if value else None

    def finish(self, final_metrics: dict) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('final', ?)", (json.dumps(final_metrics),))
            self.conn.execute("UPDATE meta SET value = 'finished' WHERE key = 'status'")
        _committed()

    @property
    def final(self) -> dict | None:
        value = self.meta("final")
        return json.loads(value) if value else None

    def close(self) -> None:
        self.conn.close()
        self._unlock(self._lock)
        self._lock = None

    @staticmethod
    def _unlock(lock: int | None) -> None:
        if lock is not None:
            with contextlib.suppress(OSError):
                os.close(lock)  # closing the descriptor drops its lock
