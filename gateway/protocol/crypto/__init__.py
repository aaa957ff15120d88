"""All of DXG's cryptography: JWK keys, Ed25519 JWS, sealed boxes, blobs at rest.

Nothing outside this package signs, verifies, seals or encrypts.
"""
