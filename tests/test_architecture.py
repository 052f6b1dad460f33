"""The import floors of docs/architecture.md hold: no module imports from a floor above its own, no
modules import each other in a circle, and no module calls another object's private method."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dfshield"


def floor_table() -> dict[str, int]:
    """``{top-level name: floor}`` from the floor table of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Import floors", 1)[1].split("\n## ", 1)[0]
    floors: dict[str, int] = {}
    for number, names in re.findall(r"^\| (\d+) \| ([^|]+) \|", section, flags=re.M):
        for name in re.findall(r"`([A-Za-z_]+)`", names):
            floors[name] = int(number)
    return floors


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """``{module: the dfshield modules it imports}`` for every module of the package."""
    known = modules()
    return {name: frozenset(imports(path, known)) for name, path in known.items()}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The dfshield modules ``path`` imports, at the top or inside functions (not the
    ``TYPE_CHECKING`` ones, which are annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("dfshield")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("dfshield"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "dfshield"


def test_every_package_has_a_floor():
    floors = floor_table()
    missing = sorted({top(m) for m in modules()} - set(floors))
    assert not missing, f"add these to the floor table of docs/architecture.md: {missing}"
    stale = sorted(set(floors) - {top(m) for m in modules()})
    assert not stale, f"the floor table names modules that do not exist: {stale}"


def test_no_import_from_a_higher_floor():
    floors = floor_table()
    upward = [
        f"{name} (floor {floors[top(name)]}) imports {target} (floor {floors[top(target)]})"
        for name, targets in import_graph().items()
        for target in sorted(targets)
        if floors[top(target)] > floors[top(name)]
    ]
    assert not upward, "imports that run up a floor:\n" + "\n".join(upward)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of nodes that reach each other (circles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [group for group in groups if len(group) > 1]


def test_strongly_connected_finds_a_circle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_circular_imports_between_packages():
    graph: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        graph.setdefault(top(name), set()).update(
            top(target) for target in targets if top(target) != top(name)
        )
    assert not strongly_connected(graph), strongly_connected(graph)


def test_no_circular_imports_between_modules():
    graph = {name: {t for t in targets if t != name} for name, targets in import_graph().items()}
    # a package's __init__ importing its own modules (to register them) is not a circle
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    assert not strongly_connected(graph), strongly_connected(graph)


def test_no_private_method_of_another_object_is_called():
    calls = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            attr, owner = node.func.attr, node.func.value
            if not attr.startswith("_") or attr.startswith("__"):
                continue
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and ast.unparse(owner.func) in ("super", *own_classes):
                continue
            if isinstance(owner, ast.Name) and owner.id == "torch" and attr.startswith("_foreach"):
                continue  # torch's multi-tensor ops: documented, though named like private ones
            calls.append(f"{name}:{node.lineno}: {ast.unparse(node.func)}(...)")
    assert not calls, "calls of another object's private method:\n" + "\n".join(calls)


def test_every_test_folder_is_a_package():
    """``tests/<package>/`` folders are named after dfshield's packages (``detectors``, ``data``):
    as packages of ``tests`` they cannot shadow another project's top-level package of that name
    (DeepfakeBench's ``detectors``) on ``sys.path``."""
    tests = ROOT / "tests"
    folders = [tests, *(p for p in tests.rglob("*") if p.is_dir() and p.name != "__pycache__")]
    missing = [str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()]
    assert not missing, f"add an empty __init__.py to: {missing}"


def package_table() -> dict[str, str]:
    """``{folder: job}`` of the package table of docs/architecture.md (``dfshield/`` is the ground
    floor's files)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(dfshield/[a-z_]*/?)`[^|]*\| (.+) \|$", section, flags=re.M))


def test_the_package_table_names_every_package_and_only_files_that_exist():
    table = package_table()
    folders = {f"dfshield/{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders <= set(table), f"add to the package table: {sorted(folders - set(table))}"
    for folder, job in table.items():
        where = ROOT / folder
        assert where.exists(), f"the package table names {folder}, which does not exist"
        missing = [n for n in re.findall(r"`([a-z_]+\.py)`", job) if not (where / n).is_file()]
        assert not missing or not where.is_dir(), f"{folder} has no {missing}"


def test_a_module_over_450_lines_says_why_at_its_top():
    long = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > 450 and "Over 450 lines" not in docstring:
            long.append(name)
    assert not long, f"split these, or say at their top why they are one job: {long}"
