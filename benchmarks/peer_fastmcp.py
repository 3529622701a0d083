"""FastMCP's `create_proxy` on stdio in front of stdio servers, as `bench_proxy.py` measures it beside the gateway.

    python benchmarks/peer_fastmcp.py NAME=COMMAND [NAME=COMMAND ...]

Run by the interpreter of a virtualenv that has FastMCP installed (the benchmark makes one):
FastMCP is a peer measured from outside, never a dependency of this project.
"""

from __future__ import annotations

import sys

from fastmcp.server import create_proxy


def main(servers: list[str]) -> None:
    config = {"mcpServers": {name: {"command": command} for name, _, command in (s.partition("=") for s in servers)}}
    create_proxy(config).run(transport="stdio", show_banner=False)


if __name__ == "__main__":
    main(sys.argv[1:])
