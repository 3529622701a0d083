"""The aggregated view the client sees: every ready upstream's tools, resources and prompts, and routes back."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inherence_proxy_core._config import NameStyle
from inherence_proxy_core._names import exposed_name, exposed_names

__all__ = ["Catalog", "ToolRoute"]

logger = logging.getLogger("inherence_proxy_core")


@dataclasses.dataclass(frozen=True)
class ToolRoute:
    """Where an exposed tool (or prompt) goes, and what the gate needs to know about it."""

    exposed: str
    upstream: str
    name: str
    fingerprint: str = ""
    category: str = "unknown"

    @functools.cached_property
    def gate_name(self) -> str:
        """The name the policy knows this tool by: the 0.1.x exposed name, independent of other upstreams."""
        return exposed_name(self.upstream, self.name)


@dataclasses.dataclass(frozen=True)
class UpstreamOffer:
    """One ready upstream's lists, with each tool's fingerprint and category."""

    name: str
    tools: Sequence[dict[str, Any]]
    fingerprints: Mapping[str, str]
    categories: Mapping[str, str]
    resources: Sequence[dict[str, Any]] = ()
    resource_templates: Sequence[dict[str, Any]] = ()
    prompts: Sequence[dict[str, Any]] = ()


@dataclasses.dataclass(frozen=True)
class Catalog:
    tools: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tool_routes: dict[str, ToolRoute] = dataclasses.field(default_factory=dict)
    resources: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    resource_routes: dict[str, str] = dataclasses.field(default_factory=dict)
    resource_templates: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    template_routes: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    prompts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    prompt_routes: dict[str, ToolRoute] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, offers: Sequence[UpstreamOffer], *, names: NameStyle = "prefixed") -> Catalog:
        """Aggregate `offers` (in configuration order). Every tool and prompt keeps a unique name.

        With `names="upstream"` (one upstream only, checked by the `Gateway`) they keep their own names.
        """
        order = [offer.name for offer in offers]

        def naming(entries: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
            if names == "upstream":
                return {entry: entry[1] for entry in entries}
            return exposed_names(entries, order=order)

        tool_names = naming((o.name, str(t.get("name", ""))) for o in offers for t in o.tools)
        prompt_names = naming((o.name, str(p.get("name", ""))) for o in offers for p in o.prompts)
        catalog = cls()
        for offer in offers:
            for tool in offer.tools:
                own = str(tool.get("name", ""))
                exposed = tool_names[(offer.name, own)]
                catalog.tools.append({**tool, "name": exposed})
                catalog.tool_routes[exposed] = ToolRoute(
                    exposed, offer.name, own, offer.fingerprints.get(own, ""), offer.categories.get(own, "unknown")
                )
            for prompt in offer.prompts:
                own = str(prompt.get("name", ""))
                exposed = prompt_names[(offer.name, own)]
                catalog.prompts.append({**prompt, "name": exposed})
                catalog.prompt_routes[exposed] = ToolRoute(exposed, offer.name, own)
            for resource in offer.resources:
                uri = str(resource.get("uri", ""))
                if uri in catalog.resource_routes:
                    # The first upstream in configuration order owns a URI listed twice.
                    logger.warning("resource %s is offered by %s and %s", uri, catalog.resource_routes[uri], offer.name)
                    continue
                catalog.resource_routes[uri] = offer.name
                catalog.resources.append(resource)
            for template in offer.resource_templates:
                catalog.resource_templates.append(template)
                pattern = str(template.get("uriTemplate", ""))
                catalog.template_routes.append((pattern.split("{", 1)[0], offer.name))
        # Longest literal prefix first, so the most specific template wins.
        catalog.template_routes.sort(key=lambda route: -len(route[0]))
        return catalog

    def route_resource(self, uri: str, resource_upstreams: Sequence[str]) -> str | None:
        """The upstream that serves `uri`: the one that listed it, else a matching template, else the only one."""
        owner = self.resource_routes.get(uri)
        if owner is not None:
            return owner
        for prefix, upstream in self.template_routes:
            if prefix and uri.startswith(prefix):
                return upstream
        return resource_upstreams[0] if len(resource_upstreams) == 1 else None


def resource_gate_name(upstream: str) -> str:
    """The tool name a resource read is decided under (`<upstream>__resources_read`)."""
    return exposed_name(upstream, "resources/read")
