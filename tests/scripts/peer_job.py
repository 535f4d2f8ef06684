"""One process of a multi-process job for ``tests/test_faults.py``: joins the job as the
entry points do (:func:`jaxgan.distributed.initialize`, work wrapped in
:func:`jaxgan.distributed.exit_on_peer_failure`), prints ``ready``, then loops until killed:
``collective`` gathers a small array across the processes every 50 ms (a peer's death
surfaces as a failed collective), ``idle`` only sleeps (it surfaces through the
coordination service's heartbeats).

Usage: ``python tests/scripts/peer_job.py collective|idle`` with the ``JAXGAN_*`` variables
of :func:`jaxgan.distributed.process_env`.
"""
from __future__ import annotations

import sys
import time

from jaxgan.distributed import exit_on_peer_failure, initialize


def main(mode: str) -> None:
    with exit_on_peer_failure("peer_job"):
        initialize(prog="peer_job")
        import jax.numpy as jnp
        from jax.experimental import multihost_utils
        multihost_utils.process_allgather(jnp.zeros(2))        # everyone is up
        print("ready", flush=True)
        i = 0
        while True:
            if mode == "collective":
                multihost_utils.process_allgather(jnp.full(2, i))   # [P, 2]
            time.sleep(0.05)
            i += 1


if __name__ == "__main__":
    main(sys.argv[1])
