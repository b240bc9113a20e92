"""The engine's layering: the rules and the core import no I/O library and no Airflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import httsleep_airflow

PACKAGE = Path(httsleep_airflow.__file__).parent
PURE = {"exceptions", "_conditions", "_core", "_secrets", "_dotted"}


def runtime_imports(module: str) -> set[str]:
    """What a module imports when it runs (``if TYPE_CHECKING:`` blocks left out): top-level
    names of other packages, and ``httsleep_airflow.<module>`` names of this one's."""
    found: set[str] = set()
    for node in ast.parse((PACKAGE / f"{module}.py").read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                found |= {alias.name for alias in inner.names}
            elif isinstance(inner, ast.ImportFrom) and inner.module and not inner.level:
                found.add(inner.module)
    return {name if name.startswith("httsleep_airflow.") else name.split(".")[0] for name in found}


@pytest.mark.parametrize("module", sorted(PURE - {"_dotted"}))
def test_rules_and_core_import_no_io_library_and_no_airflow(module: str):
    imported = runtime_imports(module)
    assert not imported & {"requests", "aiohttp", "airflow"}, imported
    own = {name.removeprefix("httsleep_airflow.") for name in imported if "." in name}
    assert own <= PURE, f"{module} imports {own - PURE}, which may bring an I/O library"
