"""Callbacks for the example DAGs. This module lives in ``$AIRFLOW_HOME/plugins/``, not beside
the DAG files: the triggerer imports a deferrable sensor's callbacks by their dotted path, and
it has the plugins folder and the installed packages on its path, never the DAG folder. A
callback here works in every mode (poke, reschedule, deferrable)."""

from __future__ import annotations

import requests


def past_halfway(response: requests.Response) -> bool:
    """A callback: any function of the response that returns True when the wait is over."""
    return bool(response.json().get("progress", 0) > 0.5)
