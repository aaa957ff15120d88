"""The role layout's import rule holds, and the check that enforces it can fail.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``): protocol
imports no role; server and party import protocol only; monitor imports
protocol and the party's client; only the CLI imports the server; extractors
import only the extractor contract. import-linter walks every module of the
packages, so a new module is covered the day it is written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("protocol", "server", "party", "monitor", "cli")


def _lint_imports(config: Path, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a test dependency (pyproject [test] extra)"
    return subprocess.run(
        [exe, "--no-cache", "--config", str(config)],
        cwd=cwd,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_contract_is_kept() -> None:
    result = _lint_imports(ROOT / "pyproject.toml", ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_name_every_role_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    sources = {m for c in contracts for m in c["source_modules"]}
    for role in ROLES:
        if role != "cli":  # the CLI may import every role
            assert f"gateway.{role}" in sources
    for role in ROLES:
        assert (ROOT / "gateway" / role / "__init__.py").is_file()


def _fake_tree(tmp: Path, violation: tuple[str, str]) -> Path:
    """A copy of the layout's shape, named ``fakegw``, with one forbidden import."""
    for role in ROLES:
        package = tmp / "fakegw" / role
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("", encoding="utf-8")
    (tmp / "fakegw" / "__init__.py").write_text("", encoding="utf-8")
    (tmp / "fakegw" / "pluginspec.py").write_text("", encoding="utf-8")
    (tmp / "fakeext").mkdir()
    (tmp / "fakeext" / "__init__.py").write_text("", encoding="utf-8")
    source, target = violation
    module = tmp / Path(*source.split(".")).with_suffix(".py")
    module.write_text(f"import {target}\n", encoding="utf-8")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("[tool.importlinter]")
    end = text.index("[tool.ruff]")
    section = text[start:end].replace('"gateway', '"fakegw').replace('"extractors', '"fakeext')
    config = tmp / "contracts.toml"
    config.write_text(section, encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("violation", "contract"),
    [
        (("fakegw.protocol.case", "fakegw.server"), "protocol imports no role"),
        (("fakegw.party.pull", "fakegw.server"), "party imports protocol only"),
        (("fakegw.server.intake", "fakegw.party"), "server imports protocol"),
        (("fakegw.monitor.audit", "fakegw.cli"), "monitor imports protocol"),
        (("fakeext.reader", "fakegw.protocol"), "import only the extractor contract"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, violation: tuple[str, str], contract: str
) -> None:
    config = _fake_tree(tmp_path, violation)
    result = _lint_imports(config, tmp_path, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
