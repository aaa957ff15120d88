"""The proof verifiers and generators against transparency-dev's public vectors.

Every file under ``tests/vectors/merkle/testdata`` is one case: valid ones must
verify, ``wantErr`` ones must raise :class:`Invalid` (never crash). The happy
paths are proofs over the RFC 6962 reference tree, so the log must also
*generate* exactly those proofs.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol.errors import Invalid
from gateway.protocol.merkle import verify_consistency, verify_inclusion
from gateway.server.log import MerkleLog
from tests.test_log import RFC6962_LEAVES

VECTORS = Path(__file__).parent / "vectors" / "merkle" / "testdata"

# The RFC 6962 reference tree (vectors README): the happy paths are proofs in it.
REFERENCE_LEAVES = RFC6962_LEAVES

# Where DXG deliberately answers differently from the vector, and why.
DEVIATIONS = {
    # Its "roots" are 12 bytes; the vector expects success because equal sizes
    # only compare roots. DXG rejects any root that is not a SHA-256 hash.
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
}


def _cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors under {VECTORS}"
    return [pytest.param(f, id=str(f.relative_to(VECTORS))) for f in files]


def _load(path: Path) -> tuple[dict[str, Any], bool]:
    case = json.loads(path.read_text(encoding="utf-8"))
    want_err = bool(case["wantErr"]) or str(path.relative_to(VECTORS)) in DEVIATIONS
    return case, want_err


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def test_vector_counts() -> None:
    """All 196 vector files travel with the tests."""
    assert len(list(VECTORS.rglob("*.json"))) == 196


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case, want_err = _load(path)

    def verify() -> object:
        return verify_inclusion(
            leaf_hash=_b64(case["leafHash"]),
            index=case["leafIdx"],
            size=case["treeSize"],
            proof=_proof(case),
            root=_b64(case["root"]),
        )

    if want_err:
        with pytest.raises(Invalid):
            verify()
    else:
        verify()


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector(path: Path) -> None:
    case, want_err = _load(path)

    def verify() -> object:
        return verify_consistency(
            old_size=case["size1"],
            new_size=case["size2"],
            old_root=_b64(case["root1"]),
            new_root=_b64(case["root2"]),
            proof=_proof(case),
        )

    if want_err:
        with pytest.raises(Invalid):
            verify()
    else:
        verify()


def test_deviation_is_still_in_the_vectors() -> None:
    """Each deviation names a real file that does expect success."""
    for name in DEVIATIONS:
        case = json.loads((VECTORS / name).read_text(encoding="utf-8"))
        assert case["wantErr"] is False
        assert len(_b64(case["root1"])) != 32


@pytest.fixture(scope="module")
def reference_log(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = MerkleLog(tmp_path_factory.mktemp("ref") / "log.db")
    log.append(REFERENCE_LEAVES)
    log.integrate()
    yield log
    log.close()


def _happy(kind: str) -> list[Any]:
    return [p for p in _cases(kind) if p.values[0].name == "happy-path.json"]


@pytest.mark.parametrize("path", _happy("inclusion"))
def test_log_generates_inclusion_vector(path: Path, reference_log: MerkleLog) -> None:
    case, _ = _load(path)
    proof = reference_log.inclusion(case["leafIdx"], case["treeSize"])
    assert list(proof.hashes) == _proof(case)
    assert reference_log.root(case["treeSize"]) == _b64(case["root"])


@pytest.mark.parametrize("path", _happy("consistency"))
def test_log_generates_consistency_vector(path: Path, reference_log: MerkleLog) -> None:
    case, _ = _load(path)
    proof = reference_log.consistency(case["size1"], case["size2"])
    assert list(proof.hashes) == _proof(case)
    assert reference_log.root(case["size1"]) == _b64(case["root1"])
    assert reference_log.root(case["size2"]) == _b64(case["root2"])
