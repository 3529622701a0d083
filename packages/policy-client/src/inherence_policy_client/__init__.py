"""Typed async client for the Inherence Policy API."""

__version__ = "0.1.0"

__all__ = ["__version__"]
