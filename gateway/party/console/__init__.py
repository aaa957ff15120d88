"""The officials' console: a party's own web screens over its pulled dossiers and cases.

It runs at the party, beside the party's keys, and talks to the gateway only
as any client does (``gateway.party.client``); the gateway never serves it.
Pages are rendered on the server (Jinja2, autoescaped) with a little
progressive JavaScript served as a static file: docs/console.md says why.

What it guarantees:

- Only officials listed in the console's directory (argon2id hashes) see a
  page other than the login; every form carries a CSRF token (403 without
  it); login failures are throttled (429 with ``Retry-After``).
- Every response carries a strict Content-Security-Policy: no inline script
  or style, nothing loaded from elsewhere.
- Which official opened which child's record is written to a local access
  log and never sent anywhere; the server log holds methods, paths of ids,
  statuses and times only, never a name.
- A verification is signed and sent only after a second official, a
  supervisor, confirms it (four eyes).
"""
