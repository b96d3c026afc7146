"""`tokensim board check` from an installed wheel checks the published RFC 6287 answers, which the
wheel ships as package data, and not values tokensim computes itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "server" / "vectors" / "rfc6287_ocra.txt"
DATA_NAME = "tokensim/server/vectors/rfc6287_ocra.txt"


def test_the_shipped_vector_file_is_the_tests_one() -> None:
    assert SHIPPED.read_bytes() == (ROOT / "tests" / "vectors" / "rfc6287_ocra.txt").read_bytes()


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("protocol", "emulators", "server"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"),
            *(str(source), "-w", str(tmp_path / "dist")),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("tokensim-*.whl")
    return wheel


def test_board_check_from_the_wheel_reads_the_shipped_vectors(tmp_path: Path, spawn: object) -> None:
    wheel = _build_wheel(tmp_path)
    assert DATA_NAME in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # The installed copy only (PYTHONPATH comes before the editable install), run far from the tests.
    environ = {**os.environ, "PYTHONPATH": str(site)}

    def installed(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=300
        )

    where = installed("-c", "import tokensim.server.cli.board_check as m; print(m._VECTORS)")
    assert where.stdout.strip() == str(site / DATA_NAME), where.stderr
    cli = ("-m", "tokensim.server.cli")
    url = spawn(sys.executable, *cli, "board", "emulate", "--tcp", "0", "--provisioning")  # type: ignore[operator]
    result = installed(*cli, "board", "check", url)
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = r"RFC 6287 OCRA-1:HOTP-SHA1-6:QN08 +pass +10 vectors \(rfc6287_ocra\.txt\)"
    assert re.search(shipped, result.stdout)
    assert re.search(r"RFC 6287 OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1 +pass +10 vectors", result.stdout)
    # A missing vector file is a clear error, not a silent fallback to tokensim's own values.
    missing = installed(*cli, "board", "check", url, "--vectors", str(tmp_path / "nowhere.txt"))
    assert missing.returncode == 2
    assert "cannot read the vector file" in missing.stderr
