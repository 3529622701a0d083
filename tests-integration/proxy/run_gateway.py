"""Run the gateway on stdio (or streamable HTTP) from a JSON description, for tests and benchmarks.

    python run_gateway.py CONFIG.json

CONFIG holds `upstreams` (UpstreamConfig fields), `policy` ("allow-all" for an in-process policy
that allows everything, or a base URL of a Policy API), `api_key`, and optional `home`.
"""

from __future__ import annotations

import json
import pathlib
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import anyio

from inherence_policy_client import Classification, DecideRequest, Decision, PolicyClient, ToolDescription
from inherence_proxy_core import Gateway, GatewaySettings, UpstreamConfig


class AllowAll:
    """An in-process policy that allows every call without any I/O."""

    async def decide(self, request: DecideRequest) -> Decision:
        receipt_id = uuid.uuid4().hex
        return Decision(decision="allow", receipt={"id": receipt_id}, receipt_id=receipt_id)

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]:
        return [Classification(name=t.name, category="read_only", source="test", confidence=1.0) for t in tools]


async def main(config: dict[str, Any]) -> None:
    upstreams = [UpstreamConfig(**u) for u in config["upstreams"]]
    home = pathlib.Path(config["home"]) if config.get("home") else None
    settings = GatewaySettings(**config.get("settings", {}))
    if config.get("policy", "allow-all") == "allow-all":
        async with Gateway(upstreams, policy=AllowAll(), home=home, settings=settings) as gateway:
            await gateway.serve_stdio()
        return
    async with (
        PolicyClient(config.get("api_key"), base_url=config["policy"]) as client,
        Gateway(upstreams, policy=client, home=home, settings=settings) as gateway,
    ):
        await gateway.serve_stdio()


if __name__ == "__main__":
    anyio.run(main, json.loads(pathlib.Path(sys.argv[1]).read_text()))
