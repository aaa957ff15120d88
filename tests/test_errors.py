"""The error taxonomy: each class says what to do, exits distinctly, and a
temporary failure is never a verdict (docs/errors.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.protocol import errors
from gateway.protocol.errors import (
    EXIT_CODES,
    EXIT_LOCAL,
    EXIT_TEMPORARY,
    EXIT_USAGE,
    DXGError,
    from_problem,
)
from tests.harness import free_port, make_keys, run_cli

ROOT = Path(__file__).resolve().parent.parent


def _all_classes() -> list[type[DXGError]]:
    found: list[type[DXGError]] = []
    stack: list[type[DXGError]] = [DXGError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _all_classes(), ids=lambda c: c.__name__)
def test_every_error_class_says_what_to_do_and_has_a_documented_exit_code(
    cls: type[DXGError],
) -> None:
    assert cls.exit_code in EXIT_CODES
    assert len(cls.action) > 20
    text = cls("detail").diagnostics()
    assert "what to do:" in text


def test_the_docs_list_every_exit_code_and_class() -> None:
    doc = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    listed = {int(m) for m in re.findall(r"^\| (\d) \|", doc, flags=re.M)}
    assert listed == set(EXIT_CODES)
    for cls in _all_classes():
        # The taxonomy's own classes each have a row; a role's own subclass
        # (gateway match's file errors) need only map to a documented exit code.
        if cls.__module__ == errors.__name__ and cls not in (
            DXGError, errors.Refused, errors.Temporary
        ):
            assert f"`{cls.__name__}`" in doc, cls.__name__


@pytest.mark.parametrize(
    ("status", "code", "expected", "retryable"),
    [
        (500, "internal", errors.ServerError, True),
        (502, "", errors.ServerError, True),
        (503, "unavailable", errors.Unavailable, True),
        (507, "unavailable", errors.InsufficientStorage, True),
        (429, "rate-limited", errors.RateLimited, True),
        (422, "invalid", errors.Invalid, False),
        (422, "digest-mismatch", errors.DigestMismatch, False),
        (409, "conflict", errors.Conflict, False),
        (401, "unauthenticated", errors.Unauthenticated, False),
        (418, "teapot", errors.Refused, False),
    ],
)
def test_a_problem_from_the_gateway_is_rebuilt_by_status_and_code(
    status: int, code: str, expected: type[DXGError], retryable: bool
) -> None:
    err = from_problem(status, {"type": f"urn:dxg:error:{code}", "detail": "d"})
    assert type(err) is expected
    assert err.retryable is retryable
    assert err.status == status


def test_an_unreachable_gateway_is_one_line_and_exit_temporary(tmp_path: Path) -> None:
    make_keys(tmp_path / "ua")
    part = tmp_path / "part.txt"
    part.write_text("hello", encoding="utf-8")
    port = free_port()  # nothing listens there
    proc = run_cli(
        "send", "--gateway", f"http://127.0.0.1:{port}", "--id", "ua",
        "--keys", str(tmp_path / "ua"), "--to", "ru", str(part), check=False,
    )
    assert proc.returncode == EXIT_TEMPORARY, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("gateway: unavailable: cannot reach the gateway at http://127.0.0.1:")
    assert lines[1].strip().startswith("what to do:")
    assert len(lines) == 2


def test_missing_client_flags_are_a_usage_error(tmp_path: Path) -> None:
    proc = run_cli("pull", "--out", str(tmp_path), "--gateway", "", "--id", "", check=False)
    assert proc.returncode == EXIT_USAGE
    assert "give --gateway, --id and --keys" in proc.stderr


def test_a_missing_file_is_a_local_error_not_a_traceback(tmp_path: Path) -> None:
    make_keys(tmp_path / "ua")
    proc = run_cli(
        "send", "--gateway", "http://127.0.0.1:9", "--id", "ua",
        "--keys", str(tmp_path / "ua"), "--to", "ru", str(tmp_path / "missing.pdf"), check=False,
    )
    assert proc.returncode == EXIT_LOCAL, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "missing.pdf" in proc.stderr


def test_help_lists_the_exit_codes() -> None:
    proc = run_cli("--help")
    assert "exit codes:" in proc.stdout
    for code, meaning in EXIT_CODES.items():
        assert f"  {code}  {meaning}" in proc.stdout
