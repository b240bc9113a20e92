"""Callbacks for the shared-triggerer test, in the plugins folder (importable in the triggerer).

Two of them break on purpose, each in a way that only shows once the sensor has deferred.
"""

from __future__ import annotations

import os
import time

import requests


def job_done(response: requests.Response) -> bool:
    return bool(response.json()["status"] == "OK")


def breaks_when_running(response: requests.Response) -> bool:
    """Pending on the worker's first poke (PENDING), raises in the triggerer (RUNNING)."""
    status = response.json()["status"]
    if status == "RUNNING":
        raise ValueError(f"breaks_when_running cannot judge a {status} job")
    return False


def deletes_its_connection(response: requests.Response) -> bool:
    """Deletes the ``doomed_api`` connection during the worker's first poke, so the trigger
    finds it gone: a connection deleted after deferral."""
    port = os.environ["AIRFLOW__API__PORT"]
    url = f"http://127.0.0.1:{port}/api/v2/connections/doomed_api"
    # The API server may answer 5xx while other components hold SQLite's lock; the test needs
    # the connection gone before the sensor defers, so try again (bounded) until it is.
    deadline = time.monotonic() + 60
    while True:
        status = requests.delete(url, timeout=30).status_code
        if status in (204, 404):  # deleted now, or already
            return False
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not delete connection 'doomed_api': HTTP {status}")
        time.sleep(0.5)
