"""The architecture as a contract: layers import only downward, and the public surface is pinned.

The layer contract is import-linter's (``[tool.importlinter]`` in pyproject.toml): applications (hotstore.cli) →
workers → the v4 facade and integrations → write-behind and durable services → core → persistence.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hotstore

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotstore", "workers", "persistence")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contract, on the packages found under ``root``."""
    env = {"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def copy_project(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_layer_contract_is_kept() -> None:
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Layers import only downward KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("persistence/models.py", "import hotstore.core.keys"),
        ("hotstore/core/store.py", "from hotstore.writebehind import flush"),
        ("hotstore/writebehind/flush.py", "from workers import jobs"),
        ("hotstore/durable/badges.py", "import hotstore.compat"),
        ("workers/jobs.py", "from hotstore.cli import operations"),
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, upward: str) -> None:
    project = copy_project(tmp_path)
    path = project / module
    # a lazy import inside a function counts too
    path.write_text(path.read_text() + f"\n\ndef _upward() -> None:\n    {upward}  # noqa\n")
    result = run_lint_imports(project)
    assert result.returncode != 0
    assert "Layers import only downward BROKEN" in result.stdout


def test_no_persistence_module_names_a_package_above_it() -> None:
    reference = re.compile(
        r"\b(hotstore|workers)\.(?!db\b)[a-z_]"  # a module path (not the default SQLite file name)
        r"|\b(import|from) (hotstore|workers)\b"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "persistence").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reference.search(line)
    ]
    assert offenders == []


def test_no_library_module_imports_by_string() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if re.search(r"import_module\(|__import__\(|find_spec\(", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# The public surface: a change here is deliberate (update the README with it).
PUBLIC_SURFACE = {
    "Access", "Badges", "Board", "BotStore", "DEFAULT_SESSION", "DEFAULT_STATS", "DomainError", "Entry", "HotStore",
    "HotstoreError", "InsufficientAccess", "InvalidInput", "InvalidTransition", "Leaderboards", "LevelTable",
    "LevelUp", "NotFound", "PatchResult", "Payments", "PromocodeRejected", "Promocodes", "Redemption",
    "SessionState", "Settings", "StoreUnavailable", "Tariff", "TariffCatalog", "TrainingHistory",
    "TrainingRecorded", "UNSET", "UserState", "__version__", "default_session", "default_stats", "delete_user",
    "BadgeRecord", "PaymentRecord", "PromocodeRecord", "SubscriptionRecord", "TrainingRecord", "InProcessFlusher",
    "StoreFull", "UnsafeRedisConfig",
    "Turn",
}


def test_the_public_surface_is_pinned() -> None:
    assert set(hotstore.__all__) == PUBLIC_SURFACE
    assert len(hotstore.__all__) == len(set(hotstore.__all__))


def test_every_public_name_is_importable_from_the_package() -> None:
    missing = [name for name in hotstore.__all__ if not hasattr(hotstore, name)]
    assert missing == []


def test_the_whole_error_tree_is_public() -> None:
    from hotstore.core import errors

    tree = {name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, Exception)}
    assert tree <= set(hotstore.__all__)


def test_the_version_is_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    assert hotstore.__version__ == version("hotstore")


def test_persistence_alone_runs_init_db_without_importing_hotstore(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from persistence import close_db, init_db\n"
        f"asyncio.run(init_db('sqlite+aiosqlite:///{tmp_path / 'alone.db'}'))\n"
        "asyncio.run(close_db())\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('hotstore', 'workers')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_the_v4_facade_installs_the_hot_store_into_persistence() -> None:
    script = (
        "import hotstore.compat\n"
        "from persistence import engine\n"
        "from hotstore.compat import lifecycle\n"
        "print(lifecycle.start in engine._startup_hooks, lifecycle.shutdown in engine._shutdown_hooks,"
        " engine._session_class is lifecycle.HotSession)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]


def test_orm_listeners_sit_on_hotstore_s_session_class_only() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from hotstore.compat import lifecycle

    assert event.contains(lifecycle.HotSession, "after_commit", lifecycle._evict_deleted_users)
    assert not event.contains(Session, "after_commit", lifecycle._evict_deleted_users)
