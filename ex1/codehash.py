"""The code a cached result depends on, hashed so that only changes to what it computes count.

Comments, docstrings and formatting are not part of the hash: the source is parsed, docstrings are
dropped, and the syntax tree is printed back (ast.unparse) before hashing. Each dependency keeps
its own hash, so that a stale result can say which dependency changed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import json
import sys
import textwrap
from functools import lru_cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


def normalised_source(obj) -> str:
    """The source of a module, class or function with comments, docstrings and layout removed."""
    return _normalised(inspect.getsource(obj))


def _normalised(source: str) -> str:
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def dependency_name(obj) -> str:
    """'ex1/train.py' for a module, 'ex1/models.py:huji_cnn' for a function or class in it."""
    module = obj if inspect.ismodule(obj) else sys.modules[obj.__module__]
    path = Path(inspect.getfile(module)).resolve()
    try:
        name = path.relative_to(_ROOT).as_posix()
    except ValueError:
        name = module.__name__
    return name if inspect.ismodule(obj) else f"{name}:{obj.__qualname__}"


@lru_cache(maxsize=None)
def _version(obj) -> str:
    return hashlib.sha256(normalised_source(obj).encode()).hexdigest()[:16]


@lru_cache(maxsize=None)
def _file_version(path: Path) -> str:
    return hashlib.sha256(_normalised(path.read_text(encoding="utf-8")).encode()).hexdigest()[:16]


def code_versions(*objects) -> dict[str, str]:
    """{dependency name: hash of its normalised source} for modules (or their names), functions and classes.

    A module named but not imported yet is hashed from its file without importing it (ex1.layers would
    import TensorFlow, seconds that reading a stored result does not need); the hash is the same either way."""
    out = {}
    for o in objects:
        if isinstance(o, str) and o not in sys.modules:
            path = Path(importlib.util.find_spec(o).origin).resolve()
            out[path.relative_to(_ROOT).as_posix()] = _file_version(path)
            continue
        if isinstance(o, str):
            o = sys.modules[o]
        out[dependency_name(o)] = _version(o)
    return out


def combined(versions: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]


def changed(old: dict[str, str] | None, new: dict[str, str]) -> list[str]:
    """The dependencies whose hash differs (or that one side lacks); all of new's when old is unknown."""
    if not old:
        return sorted(new)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def matches_checkout(deps: dict[str, str], engine_version: str) -> bool:
    """Whether a stored answer's recorded dependencies (whole modules, and the engine's version) hash the same
    in this checkout: the answer this code would read, among older ones kept in the store."""
    for name, version in deps.items():
        if name == "the training engine's version":
            same = version == engine_version
        else:
            path = _ROOT / name
            same = ":" not in name and path.is_file() and _file_version(path.resolve()) == version
        if not same:
            return False
    return True

