"""``gateway match``: find the family's report for each child of a dossier (SPEC §11)."""
