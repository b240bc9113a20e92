"""Test helpers for DAGs that wait on HTTP job APIs: a local job API and a pytest fixture.

``JobAPI`` and ``running_job_api`` need nothing but the standard library. For the ``job_api``
pytest fixture, add to your ``conftest.py``::

    pytest_plugins = ["httsleep_airflow.testing.fixtures"]
"""

from __future__ import annotations

from typing import Any

__all__ = ["JobAPI", "running_job_api"]


def __getattr__(name: str) -> Any:
    # Imported on first use, not here: `python -m httsleep_airflow.testing.jobapi` runs that
    # module as __main__, and importing it here first would make runpy warn on every start.
    if name in __all__:
        from httsleep_airflow.testing import jobapi

        return getattr(jobapi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
