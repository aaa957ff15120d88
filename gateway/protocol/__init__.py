"""What every role shares, and nothing else.

The bytes that get signed and their verifiers (manifest, receipt, token,
case event, checkpoint, extraction document), the Merkle math of the log,
the JSON Schemas, the error taxonomy, the cryptography, and the rules of
status and key validity. This package imports no role: ``server``,
``party``, ``monitor`` and ``cli`` import it, never the reverse
(``tests/test_layout.py`` enforces it).
"""
