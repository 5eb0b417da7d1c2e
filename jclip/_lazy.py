"""Package faces: one lazy ``__getattr__`` shared by every jclip package.

Every submodule of a package is reachable as an attribute after ``import jclip``
(``jclip.data.folder``, ``jclip.heads.numclip``), imported on first use so that heavy modules
(TensorFlow behind ``jclip.data.pipeline``) cost nothing until then; ``attrs`` adds names
re-exported from submodules, resolved the same way.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys


def package_face(name: str, path, attrs: dict[str, tuple[str, str | None]] | None = None):
    """``(__getattr__, __dir__)`` for the package ``name`` (its ``__path__`` is ``path``).

    attrs: {public name: (module, attribute)}; attribute None re-exports the module itself.
    """
    attrs = dict(attrs or {})
    submodules = {m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_")}

    def __getattr__(attr: str):
        if attr in attrs:
            module, value = attrs[attr]
            module = importlib.import_module(module)
            return module if value is None else getattr(module, value)
        if attr in submodules:
            return importlib.import_module(f"{name}.{attr}")
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[name])) | set(attrs) | submodules)

    return __getattr__, __dir__
