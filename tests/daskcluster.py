"""A real dask.distributed LocalCluster on 127.0.0.1 and its client, for the tests of the DaskRunner."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def local_client(**cluster_options):
    """A LocalCluster (one thread per worker, dashboard on a free port, quiet logs) and a client of it; both
    closed on exit. ``cluster_options`` go to LocalCluster (``n_workers``, ``processes``, ``memory_limit``...)."""
    import dask.distributed as distributed  # the test extra installs it: a missing Dask fails here, not skips

    cluster = distributed.LocalCluster(
        threads_per_worker=1, dashboard_address="127.0.0.1:0", silence_logs=40, **cluster_options
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
