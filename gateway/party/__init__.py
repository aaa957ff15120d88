"""The party side: the client library, pulling and verifying deliveries, and
the party's own tools (matching, cases).

Imports ``gateway.protocol`` only. Trust is rooted in keys the party pinned,
never in keys fetched from the gateway it is checking.
"""
