"""Scoring on a Dask cluster: joblib's dask backend, each Dask worker keeping its own warm
sandbox (the worker-side state in scoring.py is per process)."""

from __future__ import annotations

from contextlib import contextmanager

from .errors import CadbenchError


@contextmanager
def dask_client(scheduler: str | None, workers: int):
    """Connect to `scheduler` (e.g. tcp://host:8786), or start a LocalCluster of `workers`
    single-threaded processes when none is given."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CadbenchError("the dask backend needs dask.distributed: "
                            "pip install 'cadbench[dask]'") from None
    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
