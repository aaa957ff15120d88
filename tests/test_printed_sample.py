"""bench/printed_sample.py draws what it says: printed forms only, languages in turn."""

from __future__ import annotations

from bench.printed_sample import sample


def test_a_fresh_sample_is_printed_forms_only_languages_in_turn_and_the_same_each_time() -> None:
    drawn = sample(2_000_000, 9, "born digital")
    assert len(drawn) == 9
    assert [d.language for d in drawn] == ["uk", "ru", "en"] * 3
    assert not any("-hand-" in d.filename for d in drawn)
    # Seed 2,000,003 is a hand-filled form (wide_dossier's own draw): passed over.
    seeds = [int(d.filename.split("-")[1]) for d in drawn]
    assert 2_000_003 not in seeds and seeds == sorted(seeds) and seeds[0] == 2_000_001
    assert [d.filename for d in sample(2_000_000, 9, "born digital")] == [
        d.filename for d in drawn]
