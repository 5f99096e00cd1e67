"""A real local Ray cluster on 127.0.0.1: a head node and a second node, started with
`ray start` and stopped afterwards."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the CLI in processes (or a Ray cluster)

ray = pytest.importorskip("ray")

PORT = 6391
ADDRESS = f"127.0.0.1:{PORT}"
ARGS = ["--generations", "2", "--population", "6", "--epochs", "3", "--final-epochs", "2", "--seed", "11", "--quiet"]
KEYS = ("best", "global_best", "local_best", "n_evaluations", "n_trained", "test_error", "test_nll")


def ray_cli(*args):
    exe = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture(scope="module")
def cluster():
    common = ["--num-cpus", "1", "--object-store-memory", "150000000", "--disable-usage-stats"]
    r = ray_cli("start", "--head", "--port", str(PORT), "--node-ip-address", "127.0.0.1",
                "--include-dashboard=false", *common)
    assert r.returncode == 0, r.stderr
    try:
        r = ray_cli("start", "--address", ADDRESS, "--node-ip-address", "127.0.0.1", *common)
        assert r.returncode == 0, r.stderr
        yield ADDRESS
    finally:
        ray_cli("stop", "--force")


def nas4cnn(*args):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen([sys.executable, "-m", "nas4cnn", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def running_tasks():
    """Processes of Ray workers while they run a training task (Ray names them after the task)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::_train_on_worker"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def summary(path):
    s = json.loads((path / "summary.json").read_text())
    return {k: s[k] for k in KEYS}


@pytest.fixture(scope="module")
def local_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    p = nas4cnn("search", *ARGS, "--out", out, "--workers", "1")
    assert p.wait(timeout=300) == 0, p.stderr.read()
    return summary(out)


def test_ray_matches_local(cluster, local_result, tmp_path):
    out = tmp_path / "run"
    p = nas4cnn("search", *ARGS, "--out", out, "--executor", "ray", "--ray-address", cluster)
    assert p.wait(timeout=300) == 0, p.stderr.read()
    assert summary(out) == local_result


def test_killed_ray_worker_is_retried(cluster, local_result, tmp_path):
    out = tmp_path / "run"
    p = nas4cnn("search", *ARGS, "--out", out, "--executor", "ray", "--ray-address", cluster)
    killed = None
    deadline = time.time() + 120
    while killed is None and p.poll() is None and time.time() < deadline:
        found = running_tasks()
        if found:
            killed = found[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None, "no Ray task was seen running"
    assert p.wait(timeout=300) == 0, p.stderr.read()
    assert summary(out) == local_result
    import sqlite3

    rows = sqlite3.connect(out / "run.db").execute("SELECT canonical FROM evaluations").fetchall()
    assert len(rows) == len(set(rows)) == local_result["n_trained"]


def test_unreachable_ray_address(tmp_path):
    p = nas4cnn("search", *ARGS, "--out", tmp_path / "never", "--executor", "ray", "--ray-address", "127.0.0.1:1")
    assert p.wait(timeout=120) == 2
    err = p.stderr.read().strip().splitlines()
    assert len(err) == 1 and "cannot reach a Ray cluster at 127.0.0.1:1" in err[0]
    assert not (tmp_path / "never").exists()
