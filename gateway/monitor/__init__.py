"""The monitor: audits the receipt log, recomputes every count, cosigns.

Imports ``gateway.protocol`` and builds on the party's client (a monitor is a
client of the gateway). It sees ids, hashes, states and times, never a name.
``audit`` runs a pass, ``state`` keeps what it verified, ``report`` counts.
"""
