"""A self-hostable implementation of the Inherence Policy API.

It speaks the wire models of `inherence_policy_client` and nothing else of it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
