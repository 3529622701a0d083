"""inherence-proxy: the command users install to gate every MCP tool call through a policy.

A thin click application over `inherence_proxy_core`, `inherence_client_adapters`,
`inherence_policy_client` and the embedded `inherence_policy_server`.
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
