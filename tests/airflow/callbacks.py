"""Module-level callbacks for the deferrable tests: importable by dotted path in the triggerer."""

from __future__ import annotations

import requests


def job_done(response: requests.Response) -> bool:
    return isinstance(response, requests.Response) and response.json().get("status") == "OK"
