"""The gateway service: intake, extraction, delivery, the receipt log, the HTTP API.

Imports ``gateway.protocol`` only; nothing but ``gateway.cli`` imports it.
"""
