"""Find, back up, rewrite, restore and watch the MCP server configs of MCP clients.

Knows nothing of MCP sessions or policy: it reads and writes client config files.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
