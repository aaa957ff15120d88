"""DXG: a gateway for the signed, sealed and receipted exchange of dossiers."""

__version__ = "0.1.0"
