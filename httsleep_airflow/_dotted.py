"""Dotted import paths: ``"package.module.name"`` <-> the object it names."""

from __future__ import annotations

import importlib
from typing import Any


def import_dotted(path: str) -> Any:
    """Return the object that ``path`` names, e.g. ``"mypkg.checks.job_done"``.

    The longest importable module prefix is imported, the rest is looked up as attributes, so
    ``"mypkg.checks.Checker.is_done"`` works too.

    :raises ImportError: nothing importable by that name.
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
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            raise ImportError(f"module {module_name!r} has no attribute path {path!r}") from None
        return obj
    raise ImportError(f"no module found for {path!r}")


def dotted_path_of(obj: Any) -> str | None:
    """The dotted path that imports back to ``obj`` itself, or ``None`` if there is none.

    Lambdas, closures, nested functions and objects defined in ``__main__`` have none.
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}.{qualname}"
    try:
        found = import_dotted(path)
    except ImportError:
        return None
    return path if found is obj else None
