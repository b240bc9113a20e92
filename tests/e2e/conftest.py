from __future__ import annotations

from collections.abc import Iterator

import pytest

from httsleep_airflow.testing import JobAPI, running_job_api


@pytest.fixture(scope="module")
def job_api_e2e() -> Iterator[JobAPI]:
    """The local job API, one per test module (its jobs are counted per module)."""
    with running_job_api() as api:
        yield api
