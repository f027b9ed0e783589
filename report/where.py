"""ex1 --where ID: where a question lives, from the code that trains it to its test, as file:line.

A question id names the same thing everywhere: its experiment module (experiments/<module>.py, the function
registered under the id), the report section of the same module name (report/sections/<module>.py), the template
report/templates/sections/<id>.html.j2, its stored answer and tables (OUT/store/questions/<id>/,
OUT/tables/<profile>/<id>/), and tests/test_<module>.py or the tests that name the id.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _at(fn) -> str:
    fn = inspect.unwrap(fn)
    return f"{Path(inspect.getsourcefile(fn)).resolve().relative_to(ROOT).as_posix()}:{inspect.getsourcelines(fn)[1]}"


def _models(fn) -> list[str]:
    """The registered model builders the question's function names, through the functions of its module it calls."""
    from ex1 import models

    module = inspect.getmodule(fn)
    tree = ast.parse(inspect.getsource(module))
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    todo, seen, names = [fn.__name__], set(), set()
    while todo:
        node = defs.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in models._REGISTRY:
                names.add(sub.value)
            elif isinstance(sub, ast.Name) and sub.id in defs:
                todo.append(sub.id)
    return sorted(names)


def _tests(qid: str, module: str) -> list[str]:
    mirror = ROOT / "tests" / f"test_{module}.py"
    found = [mirror] if mirror.is_file() else []
    found += [p for p in sorted((ROOT / "tests").glob("test_*.py")) if p != mirror and f'"{qid}"' in p.read_text()]
    return [p.relative_to(ROOT).as_posix() for p in found]


def where(qid: str, out: str = "out", profile: str = "full") -> list[str]:
    """Lines naming, as file:line, everything of one question."""
    import experiments
    from ex1 import models
    from report import sections  # noqa: F401  (registers every section)
    from report.sections.common import _SECTIONS

    from .appendix import ex1_main_functions

    q = experiments.QUESTIONS[qid]
    module = q.fn.__module__.rsplit(".", 1)[-1]
    lines = [f"{qid}  {q.title}", f"  computed by  {_at(q.fn)} {q.fn.__name__}"]
    builders = _models(q.fn)
    lines.append("  models       " + (", ".join(f"{_at(models._REGISTRY[b])} {b}" for b in builders)
                                      if builders else "none (nothing trains)"))
    section = _SECTIONS.get(qid)
    lines.append(f"  section      {_at(section)} {section.__name__}" if section else "  section      (none)")
    template = ROOT / "report" / "templates" / "sections" / f"{qid}.html.j2"
    lines.append(f"  template     {template.relative_to(ROOT).as_posix()}"
                 + ("" if template.is_file() else " (missing)"))
    lines.append(f"  stored at    {out}/store/questions/{qid}/ ; tables {out}/tables/{profile}/{qid}/ ; figures "
                 f"{out}/figures/{profile}/{qid}/")
    lines.append("  tests        " + (", ".join(_tests(qid, module)) or "(none name it)"))
    main = ex1_main_functions(ROOT / "Ex1_main.py", [qid])[qid]
    lines.append("  Ex1_main     " + (", ".join(main) or f'answer("{qid}")'))
    return lines
