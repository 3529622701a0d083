"""The MCP gateway engine of inherence-proxy.

One MCP server towards the client, one MCP client towards each upstream, and a policy
decision from `inherence_policy_client` before any tool call reaches an upstream.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
