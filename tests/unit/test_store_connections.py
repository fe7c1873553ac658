"""The store's one convention for passing a connection, checked on every store class and on
the source (see the docstring of ``runtime/store/__init__.py``).

* A parameter named ``conn`` is either the first positional parameter and required (the
  method is a part of the caller's transaction), or keyword-only with default None (given,
  the method runs on the caller's transaction; None, it opens its own).
* Nothing opens a transaction directly (``db.read()``, ``db.write()``, ``engine.connect()``)
  except ``Database`` itself and the places listed below, each with why: everything else
  goes through ``Database.reading`` / ``Database.writing``, which repeat the work on a fresh
  connection when the connection breaks.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from tether.runtime import store as store_pkg
from tether.runtime.store import Database, Store

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runtime", "versioning", "rollout", "tether")

# (file, enclosing function) -> why it opens its transaction directly, without a retry.
DIRECT = {
    ("runtime/store/database.py", "Database.read"): "the transaction helpers themselves",
    ("runtime/store/database.py", "Database.write"): "the transaction helpers themselves",
    ("runtime/store/commit.py", "_Lane._connection"): (
        "the commit lanes keep a connection and retry per item (Database.run_write)"
    ),
    ("runtime/store/executors.py", "ExecutorStore.heartbeat"): (
        "the heartbeat loop is the retry and must see each failure to judge its own lease"
    ),
    ("runtime/store/executors.py", "ExecutorStore.note_disconnected"): (
        "one attempt by design: the heartbeat loop tries again, and its next success writes "
        "RUNNING back"
    ),
    ("runtime/store/queues.py", "QueueStore.claim"): (
        "a repeat after an unacknowledged commit would claim a second batch; the dequeue "
        "loop is the retry"
    ),
    ("runtime/store/migrate.py", "migrate"): (
        "the operator or the launch hears that a migration failed and runs it again"
    ),
    ("runtime/primitives.py", "deliver"): (
        "without an idempotency key a repeat would deliver the message twice"
    ),
}


def _store_classes() -> list[type]:
    """Every class of the store package built on a ``Database`` (composed in ``Store`` or not,
    like the rollout and retention stores)."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(store_pkg.__path__):
        module = importlib.import_module(f"{store_pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls is Database:
                continue
            params = inspect.signature(cls.__init__).parameters
            if "db" in params:
                found[cls.__qualname__] = cls
    return sorted(found.values(), key=lambda c: c.__qualname__)


def _composed(tmp_path: Path) -> set[type]:
    store = Store(f"sqlite:///{tmp_path / 'conv.db'}", "conv")
    try:
        return {type(v) for v in vars(store).values() if hasattr(v, "db") and v is not store.db}
    finally:
        store.close()


def conn_violation(fn: object) -> str | None:
    """Why ``fn``'s ``conn`` parameter breaks the convention; None when it keeps it."""
    params = list(inspect.signature(fn).parameters.values())  # type: ignore[arg-type]
    if params and params[0].name == "self":
        params = params[1:]
    for i, p in enumerate(params):
        if p.name != "conn":
            continue
        if i == 0 and p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty:
            return None  # a part of the caller's transaction
        if p.kind is p.KEYWORD_ONLY and p.default is None:
            return None  # optional, keyword-only
        return (
            "conn must be the first positional parameter and required, or keyword-only "
            f"with default None (it is {p.kind.description}, default {p.default!r})"
        )
    return None


def test_every_store_class_is_checked(tmp_path: Path) -> None:
    classes = set(_store_classes())
    missing = _composed(tmp_path) - classes
    assert not missing, f"sub-stores of Store the check does not find: {missing}"
    assert len(classes) >= 15, [c.__qualname__ for c in classes]


@pytest.mark.parametrize("cls", _store_classes(), ids=lambda c: c.__qualname__)
def test_conn_parameter_follows_the_convention(cls: type) -> None:
    bad = []
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        why = conn_violation(fn)
        if why is not None:
            bad.append(f"{cls.__qualname__}.{name}: {why}")
    assert not bad, "\n".join(bad)


def _part(conn: object, x: int) -> None: ...
def _optional(x: int, *, conn: object = None) -> None: ...
def _positional_optional(x: int, conn: object = None) -> None: ...
def _second(x: int, conn: object) -> None: ...
def _keyword_required(x: int, *, conn: object) -> None: ...


@pytest.mark.parametrize(
    ("fn", "ok"),
    [
        (_part, True),
        (_optional, True),
        (_positional_optional, False),
        (_second, False),
        (_keyword_required, False),
    ],
)
def test_the_rule_itself(fn: object, ok: bool) -> None:
    assert (conn_violation(fn) is None) is ok


# -- direct transactions, read from the source ---------------------------------------------


def _is_db(node: ast.expr) -> bool:
    """``db``, ``self.db``, ``store.db``, ``app.store.db`` ...: a Database."""
    return (isinstance(node, ast.Name) and node.id == "db") or (
        isinstance(node, ast.Attribute) and node.attr == "db"
    )


def _opens_directly(call: ast.Call) -> bool:
    f = call.func
    if not isinstance(f, ast.Attribute):
        return False
    if f.attr in ("read", "write") and _is_db(f.value):
        return True
    # engine.connect(): self.engine, self.db.engine, db.engine
    target = f.value
    named_engine = (isinstance(target, ast.Attribute) and target.attr == "engine") or (
        isinstance(target, ast.Name) and target.id == "engine"
    )
    return f.attr in ("connect", "begin") and named_engine


def direct_transactions(source: str) -> list[tuple[str, int]]:
    """(enclosing function's qualified name, line) of every direct transaction in ``source``."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, scope: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, [*scope, child])
                continue
            if isinstance(child, ast.Call) and _opens_directly(child):
                found.append((_qualname(scope), child.lineno))
            visit(child, scope)

    visit(ast.parse(source), [])
    return found


def _qualname(scope: list[ast.AST]) -> str:
    """Nested functions count as their outermost method (``Class.method``) or function."""
    names = [getattr(n, "name", "") for n in scope]
    if len(scope) >= 2 and isinstance(scope[0], ast.ClassDef):
        return ".".join(names[:2])
    return names[0] if names else "<module>"


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_nothing_opens_a_transaction_directly_except_the_listed() -> None:
    seen: set[tuple[str, str]] = set()
    bad = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for where, line in direct_transactions(path.read_text()):
            seen.add((rel, where))
            if (rel, where) not in DIRECT:
                bad.append(f"{rel}:{line} ({where})")
    assert not bad, (
        "these open a transaction directly; use db.reading / db.writing (they retry on a "
        "broken connection), or list the place in DIRECT with why it must not be repeated:\n"
        + "\n".join(bad)
    )
    stale = sorted(set(DIRECT) - seen)
    assert not stale, f"listed in DIRECT but no longer open a transaction: {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class S:\n def m(self):\n  with self.db.read() as c: pass\n", [("S.m", 3)]),
        ("def f(store):\n with store.db.write(single_statement=True) as c: pass\n", [("f", 2)]),
        ("class S:\n def m(self):\n  def w(c): return self.db.write()\n", [("S.m", 3)]),
        ("def f(db):\n with db.engine.connect() as c: pass\n", [("f", 2)]),
        ("def f(db):\n return db.reading(lambda c: c)\n", []),
        ("def f(store):\n return store.streams.read('w', 'k', 0)\n", []),
    ],
)
def test_direct_transactions_are_found(source: str, expected: list[tuple[str, int]]) -> None:
    assert direct_transactions(source) == expected


def test_postgres_connections_are_checked_at_checkout() -> None:
    """A pooled Postgres connection the server dropped (failover, idle reaping) is replaced
    when it is checked out, before the caller's statement. SQLite needs no such check: its
    connection is a file handle in this process, which no server can drop."""
    db = Database("postgresql://nobody@127.0.0.1:9/none")  # an engine connects lazily
    try:
        assert db.engine.pool._pre_ping  # noqa: SLF001 - no public accessor
    finally:
        db.close()
