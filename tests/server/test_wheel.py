"""The built wheel ships the server's migrations (an editable install would hide a missing package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_contains_every_migration_script(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("protocol", "emulators", "server"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(source),
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("tokensim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = ROOT / "server" / "storage" / "migrations"
    expected = {
        f"tokensim/server/storage/migrations/{path.relative_to(migrations).as_posix()}"
        for path in migrations.rglob("*.py")
    }
    assert "tokensim/server/storage/migrations/versions/rev_0001_initial.py" in expected
    assert expected <= names
