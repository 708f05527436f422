"""Joining a Ray cluster (or starting a local instance), shared by generation's Ray backend and
the filter's Ray executor; Ray itself is imported only when asked for."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from factory.core import logs
from factory.core.errors import InputError


def local_resources() -> tuple[dict, dict]:
    """What a local Ray instance would have, without starting one (for --dry-run)."""
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        pass
    cpus = float(os.cpu_count() or 1)
    return {"CPU": cpus, "GPU": float(gpus), "nodes": 1}, {"CPU": cpus, "GPU": float(gpus)}


def cluster_resources() -> tuple[dict, dict]:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    totals = dict(ray.cluster_resources())
    totals["nodes"] = len(nodes)
    return totals, {k: max([n.get("Resources", {}).get(k, 0) for n in nodes] or [0]) for k in ("CPU", "GPU")}


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError("--backend ray needs Ray Data: pip install 'r1-factory[ray]' "
                         "(or 'ray[data]'), on every node of the cluster") from None
    return ray


def connect(address: str | None, verbose: bool = False) -> bool:
    """Join the cluster at `address` or start a local instance; True when this call started Ray."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address:
        _check_reachable(address)
    quiet = logs.log_file() is not None and not verbose
    kw: dict[str, Any] = dict(log_to_driver=not quiet, include_dashboard=False)
    if quiet:
        # The driver's C++ core logs straight to the terminal; one ERROR line per replica says
        # its constructor arguments live in the object store (how Ray Data passes them). The
        # replicas' own logs stay in Ray's session folder (/tmp/ray/session_latest/logs).
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        with logs.captured():
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(**kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise InputError(f"--ray-address {address}: cannot join the Ray cluster ({e})") from None
    if quiet:
        for name in ("ray", "ray.data"):
            lg = logging.getLogger(name)
            for h in list(lg.handlers):
                lg.removeHandler(h)
            lg.propagate = True
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # A batch of 32k-token traces can take longer than Ray Data's 30 minutes "no progress" limit.
    ctx.execution_no_progress_timeout_s = -1
    return True


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT with nothing listening is one error line: Ray itself retries it for ever
    (`auto`, `ray://` and other forms are left to Ray)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise InputError(f"--ray-address {address}: nothing answers there ({e.strerror or e}); start the head "
                         f"with `ray start --head` and give the address it prints, or leave --ray-address out "
                         f"for a local Ray instance") from None
