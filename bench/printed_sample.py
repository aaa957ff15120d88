"""A fresh sample of printed forms in one condition, from any seed: its misses, one a line.

``bench/extraction_accuracy.py`` draws its two splits from fixed seeds, and
its development forms have been read miss by miss for rounds. This draws
other development forms (printed only: a hand-filled seed is passed over;
languages in turn) from a seed of your choosing, runs them through the real
ingestion engine and prints every wrong member and the share right. Choose
seeds far from the held-out split's (9,000,000), as the development seeds
are: the held-out forms are never looked at one by one.

Usage::

    python -m bench.printed_sample --seed 2000000 --forms 60 --condition "300 dpi"
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, get_args

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extraction_accuracy import AS_OF, LANGUAGES, SEEDS, members
from gateway.pluginspec import Limits, PartInput
from gateway.server.ingestion import Ingestor
from tests.dossiers import HAND_SHARE, Condition, Dossier, wide_dossier


def sample(seed: int, forms: int, condition: Condition) -> list[Dossier]:
    """``forms`` printed forms from the seeds after ``seed``, languages in turn."""
    out: list[Dossier] = []
    n = seed
    while len(out) < forms:
        n += 1
        if random.Random(f"hand-{n}").random() < HAND_SHARE:
            continue  # wide_dossier's own draw: this seed is a hand-filled form
        out.append(wide_dossier(n, LANGUAGES[len(out) % len(LANGUAGES)], condition))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2_000_000,
                        help="the sample is drawn from the seeds after this one")
    parser.add_argument("--forms", type=int, default=60)
    parser.add_argument("--condition", choices=get_args(Condition), default="300 dpi")
    args = parser.parse_args()
    if abs(args.seed - SEEDS["test"]) < 1_000_000:
        parser.error("that seed is within a million of the held-out split's; "
                     "choose one far from it (the default is 2000000)")
    batch = sample(args.seed, args.forms, args.condition)
    with tempfile.TemporaryDirectory(prefix="dxg-sample-") as tmp, Ingestor(
        ["documents"], Limits(), workers=os.cpu_count() or 1
    ) as engine:
        result = engine.extract([PartInput(d.filename, d.media_type, d.write(Path(tmp)), AS_OF)
                                 for d in batch])
    for note in result.errors:
        print(f"  error: {note}", file=sys.stderr)
    by_part: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for found in result.records:
        by_part[found["source"]["part"]].append(found)
    right = total = 0
    for dossier in batch:
        records = by_part.get(dossier.filename, [])
        for index, child in enumerate(dossier.children):
            record = records[index] if index < len(records) else None
            for m in members(record, child.truth()):  # fictitious children only
                total += 1
                right += m.correct
                if not m.correct:
                    print(f"  {dossier.filename} {m.name}: {m.got!r} != {m.expected!r} "
                          f"(confidence {m.confidence}, flagged {m.flagged})")
    print(f"{args.condition}: {right} of {total} members right ({right / total:.2%}), "
          f"{len(batch)} printed forms from seed {args.seed + 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
