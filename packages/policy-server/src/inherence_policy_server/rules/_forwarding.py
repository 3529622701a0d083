"""Standing forwards: a mailbox rule, filter or setting that sends future mail on by itself.

A forward to an outside address is exfiltration of everything that arrives from then on, with
no further call for the policy to judge, so it is denied (`outside_forwarding`) unless the
address is inside the organisation or a configured known recipient. What makes a call a
standing forward: its tool name or argument keys say forward or redirect (or a key names the
forwarding address) together with a rule, filter or setting word; forwarding one message is a send.
"""

from __future__ import annotations

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._destinations import Place, destinations

__all__ = ["outside_forwards"]

_FORWARD_WORDS = frozenset({"forward", "forwarding", "autoforward", "autoforwarding", "redirect", "redirection"})
_STANDING_WORDS = frozenset({"rule", "rules", "filter", "filters", "setting", "settings", "auto", "automatic",
                             "mailbox", "always", "alias", "routing", "enabled", "enable"})  # fmt: skip
_FORWARD_KEYS = frozenset({"forward_to", "forwardto", "forwarding_address", "forwarding_email", "forward_address",
                           "redirect_to", "redirectto", "forward_to_recipients", "forwardtorecipients",
                           "forwarding_addresses", "forwardingsmtpaddress", "auto_forward_to"})  # fmt: skip


def outside_forwards(analysis: CallAnalysis, config: RulesConfig) -> list[str]:
    """The outside addresses a call would forward future mail to; empty for anything else."""
    words = analysis.intent_words
    keyed = any(value.is_key and value.folded in _FORWARD_KEYS for value in analysis.text.values)
    if not (keyed or words & _FORWARD_WORDS) or not words & _STANDING_WORDS:
        return []
    if not analysis.emails:
        return []
    return [
        place.name
        for place in destinations(analysis, config)
        if place.place is Place.OUTSIDE and not place.configured and "@" in place.name
    ]
