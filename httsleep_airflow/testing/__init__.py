"""Test helpers for DAGs that wait on HTTP job APIs: a local job API and a pytest fixture.

``JobAPI`` and ``running_job_api`` need nothing but the standard library. For the ``job_api``
pytest fixture, add to your ``conftest.py``::

    pytest_plugins = ["httsleep_airflow.testing.fixtures"]
"""

from httsleep_airflow.testing.jobapi import JobAPI, running_job_api

__all__ = ["JobAPI", "running_job_api"]
