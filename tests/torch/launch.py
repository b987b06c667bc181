"""Launching the multi-process tests: ranks as plain processes, or under torchrun.

Every launch is bounded: at its timeout whatever is left is killed (torchrun with its
workers, as one process group) and the test fails with the ranks' output. Each rank of
a worker writes ``OUTDIR/rank<R>.json``; :func:`read_ranks` reads them back.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def load(name: str) -> ModuleType:
    """A module of this folder by file (``--import-mode=importlib`` puts none on sys.path),
    once: the workers load each other under the same names."""
    key = f"lrfind_test_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(out: Path) -> dict[str, str]:
    tmp = out / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)}


def _finish(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> float:
    """Wait for every process until ``timeout`` (from now); kill the rest; the wall time."""
    started = time.monotonic()
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the processes did not finish in {timeout} s:\n{tails(logs)}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    elapsed = time.monotonic() - started
    codes = [proc.returncode for proc in procs]
    assert codes == [0] * len(procs), f"exit codes {codes}\n{tails(logs)}"
    return elapsed


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as handle:
        return subprocess.Popen(
            command,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # torchrun and its workers: one group to kill
        )


def ranks(worker: Path, args: list[str], out: Path, world: int, timeout: float) -> float:
    """``worker ARGS`` as ``world`` ranks with the environment torchrun would set."""
    env = {
        **_env(out),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(world),
    }
    logs = [out / f"log{r}.txt" for r in range(world)]
    procs = [
        _start(
            [sys.executable, str(worker), *args],
            {**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            logs[r],
        )
        for r in range(world)
    ]
    return _finish(procs, logs, timeout)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def torchrun(
    target: list[str], out: Path, timeout: float, nodes: int = 1, per_node: int = 2
) -> float:
    """``torchrun TARGET`` on 127.0.0.1: ``--standalone`` on one node; on several, one
    torchrun per node with a static rendezvous (``--node-rank`` 0, 1, ...)."""
    env = _env(out)
    if nodes == 1:
        logs = [out / "torchrun.txt"]
        command = [*TORCHRUN, "--standalone", "--nproc-per-node", str(per_node), *target]
        return _finish([_start(command, env, logs[0])], logs, timeout)
    port = str(free_port())
    logs = [out / f"node{n}.txt" for n in range(nodes)]
    procs = [
        _start(
            [
                *TORCHRUN,
                "--nnodes",
                str(nodes),
                "--nproc-per-node",
                str(per_node),
                "--rdzv-backend=static",
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                port,
                "--node-rank",
                str(n),
                *target,
            ],
            env,
            logs[n],
        )
        for n in range(nodes)
    ]
    return _finish(procs, logs, timeout)


def tails(logs: list[Path]) -> str:
    return "\n".join(
        f"--- {log.name}:\n{log.read_text(errors='replace')[-3000:]}"
        for log in logs
        if log.exists()
    )


def read_ranks(out: Path, world: int) -> list[dict[str, Any]]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
