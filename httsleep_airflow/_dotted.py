"""Dotted import paths: ``"package.module.name"`` <-> the object it names."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any


def import_dotted(path: str) -> Any:
    """Return the object that ``path`` names, e.g. ``"mypkg.checks.job_done"``.

    The longest importable module prefix is imported, the rest is looked up as attributes, so
    ``"mypkg.checks.Checker.is_done"`` works too.

    :raises ImportError: nothing importable by that name, or its module raised while it was
        imported.
    """
    parts = path.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise ImportError(f"{path!r} is not a dotted path like 'package.module.name'")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "this prefix is not a module" means: try a shorter one.
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        except ImportError:
            raise
        except Exception as exc:  # the module's own code raised while it was imported
            raise ImportError(
                f"importing module {module_name!r} raised {type(exc).__name__}: {exc}"
            ) from None
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            raise ImportError(f"module {module_name!r} has no attribute path {path!r}") from None
        return obj
    raise ImportError(f"no module found for {path!r}")


def dotted_path_of(obj: Any) -> str | None:
    """The dotted path that imports back to ``obj``, or ``None`` if there is none.

    Lambdas, closures, nested functions and objects defined in ``__main__`` have none. What the
    path resolves to must be ``obj`` or its twin: the same module and qualified name, and for a
    function the same code. (A module executed again, as Airflow's plugins manager does with
    the plugins folder, holds new objects for the same definitions.)
    """
    if inspect.ismethod(obj) and not isinstance(obj.__self__, type):
        return None  # bound to an instance: its path names the unbound function
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}.{qualname}"
    try:
        found = import_dotted(path)
    except ImportError:
        return None
    return path if found is obj or _same_definition(found, obj) else None


def _same_definition(found: Any, obj: Any) -> bool:
    if getattr(found, "__module__", None) != getattr(obj, "__module__", None):
        return False
    if getattr(found, "__qualname__", None) != getattr(obj, "__qualname__", None):
        return False
    if isinstance(obj, type):
        return isinstance(found, type)
    code, found_code = getattr(obj, "__code__", None), getattr(found, "__code__", None)
    if code is None or found_code is None:
        return False
    return bool(
        code.co_code == found_code.co_code
        and code.co_consts == found_code.co_consts
        and code.co_names == found_code.co_names
    )


def display_name(obj: Any) -> str:
    """How messages name ``obj``: its dotted path, or ``file.py:name`` when its module's name is
    not the one its file would be imported by (a DAG file loaded under a generated name, a
    script run as ``__main__``)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or repr(obj)
    if not module:
        return qualname
    code = getattr(obj, "__code__", None)
    file = getattr(sys.modules.get(module), "__file__", None) or getattr(code, "co_filename", None)
    if file:
        path = Path(file)
        stem = path.parent.name if path.stem == "__init__" else path.stem
        if stem != module.rpartition(".")[2]:
            return f"{path.name}:{qualname}"
    return f"{module}.{qualname}"
