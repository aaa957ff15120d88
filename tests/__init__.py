"""DXG tests. A package so that ``bench/`` can reuse the dossier generator."""
