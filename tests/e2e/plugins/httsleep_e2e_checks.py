"""Callbacks for the shared-triggerer test, in the plugins folder (importable in the triggerer).

Two of them break on purpose, each in a way that only shows once the sensor has deferred.
"""

from __future__ import annotations

import os

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
    requests.delete(f"http://127.0.0.1:{port}/api/v2/connections/doomed_api", timeout=30)
    return False
