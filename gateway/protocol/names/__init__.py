"""Children's names across Ukrainian, Russian and Latin spellings.

Transliteration (KMU 2010 for Ukrainian, ICAO 9303 for Russian, SPEC §4.1)
and the knowledge that lets the same child be recognised under another
spelling: name equivalents, surname rules, folding keys, OCR confusables.
Shared by the extractors (through ``gateway.pluginspec``) and by the party's
matching (SPEC §11).
"""
