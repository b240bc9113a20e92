"""pytest fixtures: ``pytest_plugins = ["httsleep_airflow.testing.fixtures"]`` in a conftest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from httsleep_airflow.testing.jobapi import JobAPI, running_job_api


@pytest.fixture
def job_api() -> Iterator[JobAPI]:
    """A local job API on a free port of 127.0.0.1, for one test; ``job_api.url`` is its base."""
    with running_job_api() as api:
        yield api
