"""aiogram's own FSM storage contract tests, fetched at test time (they ship in aiogram's sdist, not its wheel).

``pip download --no-binary :all: --no-deps aiogram==<installed version>`` into a cache outside the repository, then
``tests/test_fsm/storage/test_storages.py`` is extracted and loaded as a module; its test bodies run unmodified
(tests/integrations/test_aiogram_contract.py puts them on a class parametrised onto hotstore's fixtures). Nothing of
aiogram's is copied into this repository.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

SUITE = "tests/test_fsm/storage/test_storages.py"
DOWNLOAD_TIMEOUT_S = 300
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _cache_dir(version: str) -> Path:
    return Path(tempfile.gettempdir()) / "hotstore-aiogram-contract" / version


def _download(version: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
               f"aiogram=={version}", "-d", str(into)]
    subprocess.run(command, check=True, capture_output=True, timeout=DOWNLOAD_TIMEOUT_S)
    archives = sorted(into.glob(f"aiogram-{version}.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"pip download left no aiogram-{version}.tar.gz in {into}")
    return archives[0]


def _extract(archive: Path, version: str, target: Path) -> None:
    member = f"aiogram-{version}/{SUITE}"
    with tarfile.open(archive) as tar:
        source = tar.extractfile(member)
        if source is None:
            raise FileNotFoundError(f"{member} is not in {archive.name}")
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        partial.write_bytes(source.read())
        partial.replace(target)  # atomic: a parallel run never loads half a file


def contract_suite() -> ModuleType:
    """aiogram's ``test_storages`` module for the installed aiogram; skips (fails with CI=true) if it cannot be had."""
    version = importlib.metadata.version("aiogram")
    cache = _cache_dir(version)
    target = cache / "test_storages.py"
    try:
        if not target.exists():
            _extract(_download(version, cache), version, target)
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        message = f"aiogram {version}'s sdist (for its storage contract tests) could not be downloaded: {exc}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)
    spec = importlib.util.spec_from_file_location(f"aiogram_{version.replace('.', '_')}_test_storages", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
