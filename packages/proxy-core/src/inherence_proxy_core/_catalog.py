"""The aggregated view the client sees: every ready upstream's tools, resources and prompts, and routes back."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inherence_proxy_core._config import NameStyle
from inherence_proxy_core._names import exposed_name, exposed_names

__all__ = ["Catalog", "NameCollision", "ToolRoute"]

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
class NameCollision:
    """Two upstreams offer a tool or prompt of the same name under `names="upstream"`: `kept` serves it."""

    kind: str
    name: str
    kept: str
    dropped: str

    def describe(self) -> str:
        return (
            f"upstreams {self.kept} and {self.dropped} both offer a {self.kind} named {self.name!r}; "
            f'with tool names "upstream" only one can have it ({self.kept} keeps it)'
        )


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
    collisions: list[NameCollision] = dataclasses.field(default_factory=list)

    @classmethod
    def build(
        cls, offers: Sequence[UpstreamOffer], *, names: NameStyle = "prefixed", previous: Catalog | None = None
    ) -> Catalog:
        """Aggregate `offers` (in configuration order). Every tool and prompt keeps a unique name.

        With `names="upstream"` they keep their own names. When two upstreams offer the same one, the
        upstream that served it in `previous` keeps it, else the first in configuration order; the
        other's is left out and recorded in `collisions`.
        """
        order = [offer.name for offer in offers]
        catalog = cls()

        def naming(
            kind: str, entries: Iterable[tuple[str, str]], served: Mapping[str, ToolRoute]
        ) -> dict[tuple[str, str], str]:
            if names != "upstream":
                return exposed_names(entries, order=order)
            listed = list(entries)
            owner: dict[str, str] = {}
            for upstream, own in listed:
                before = served.get(own)
                if before is not None and before.upstream == upstream:
                    owner[own] = upstream
            for upstream, own in listed:
                kept = owner.setdefault(own, upstream)
                if kept != upstream:
                    catalog.collisions.append(NameCollision(kind, own, kept, upstream))
            return {(upstream, own): own for upstream, own in listed if owner[own] == upstream}

        tool_names = naming(
            "tool",
            [(o.name, str(t.get("name", ""))) for o in offers for t in o.tools],
            previous.tool_routes if previous is not None else {},
        )
        prompt_names = naming(
            "prompt",
            [(o.name, str(p.get("name", ""))) for o in offers for p in o.prompts],
            previous.prompt_routes if previous is not None else {},
        )
        for offer in offers:
            for tool in offer.tools:
                own = str(tool.get("name", ""))
                exposed = tool_names.get((offer.name, own))
                if exposed is None:
                    continue
                catalog.tools.append({**tool, "name": exposed})
                catalog.tool_routes[exposed] = ToolRoute(
                    exposed, offer.name, own, offer.fingerprints.get(own, ""), offer.categories.get(own, "unknown")
                )
            for prompt in offer.prompts:
                own = str(prompt.get("name", ""))
                exposed = prompt_names.get((offer.name, own))
                if exposed is None:
                    continue
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
