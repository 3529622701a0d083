"""Money that moves through a payment API or CLI instead of a dedicated payment tool, and
the calls that only look like money moving: refunds to the original payer and reads.

`api_payments` reads each money-moving request's amount fields, currency and recipient
from its body, query or CLI flags; the financial rule then applies the same limits as
to a payment tool. A refund names the payment it returns, so its recipient is whoever
paid: it is never a first payment to a new recipient.
"""

from __future__ import annotations

import dataclasses
import re

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api_endpoints import api_matches

__all__ = ["ApiPayment", "api_payments", "is_refund", "reads_only"]

_AMOUNT_LEAVES = frozenset({"amount", "sourceamount", "targetamount", "amount_cents", "amount_in_cents",
                            "transfer_amount", "payout_amount", "total", "amount_money"})  # fmt: skip
_AMOUNT_PARENTS = frozenset({"amount", "amount_money", "total", "value", "sourceamount", "targetamount"})
_RECIPIENT_LEAVES = ("destination", "recipient", "receiver", "targetaccount", "payee", "to", "beneficiary",
                     "counterparty_id", "receiving_account_id", "recipient_id", "destination_account",
                     "to_account", "iban", "account_number", "email", "recipient_account_id",
                     "recipientaccountid", "external_account")  # fmt: skip
_REFERENCES = frozenset({"charge", "charge_id", "payment_intent", "payment_intent_id", "payment_id", "payment",
                         "transaction_id", "original_transaction_id", "order_id", "capture_id", "invoice",
                         "invoice_id", "sale_id"})  # fmt: skip
_REFUND_WORDS = frozenset({"refund", "refunds", "reversal", "reverse", "chargeback"})
_READ_WORDS = frozenset({"get", "list", "retrieve", "search", "read", "fetch", "show", "view", "history", "balance",
                         "balances", "statement", "statements", "lookup", "query", "find", "describe"})  # fmt: skip
_ACTION_WORDS = frozenset({"create", "send", "make", "initiate", "execute", "submit", "confirm", "capture", "approve",
                           "wire", "withdraw", "disburse", "schedule", "update", "change", "set", "move", "pay",
                           "issue", "release", "process", "add", "new", "post", "put", "patch"})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ApiPayment:
    """One money-moving request: its amount fields (key, raw value), how they count, and where the money goes."""

    what: str
    clause: str
    amounts: tuple[tuple[str, str], ...]
    minor_units: bool
    currency: str
    recipient: str
    refund: bool


# Wallet CLIs that send coins or tokens: (program, pattern over its arguments). Their amounts are in coins,
# which the limits cannot value, so such a send is judged as money moving without a stated amount.
_WALLET_SENDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bitcoin-cli", re.compile(r"(?:^|\s)(?:sendtoaddress|sendmany|send|sendall)(?:\s|$)")),
    ("litecoin-cli", re.compile(r"(?:^|\s)(?:sendtoaddress|sendmany|send|sendall)(?:\s|$)")),
    ("dogecoin-cli", re.compile(r"(?:^|\s)(?:sendtoaddress|sendmany)(?:\s|$)")),
    ("electrum", re.compile(r"(?:^|\s)(?:payto|paytomany)(?:\s|$)")),
    ("lncli", re.compile(r"(?:^|\s)(?:sendpayment|payinvoice|sendcoins|sendmany)(?:\s|$)")),
    ("cast", re.compile(r"^send(?:\s|$)")),
    ("solana", re.compile(r"^transfer(?:\s|$)")),
    ("spl-token", re.compile(r"^transfer(?:\s|$)")),
    ("monero-wallet-cli", re.compile(r"(?:^|\s)transfer(?:\s|$)")),
    ("near", re.compile(r"^(?:send|tokens\s+\S+\s+send-near)(?:\s|$)")),
)


def _wallet_sends(analysis: CallAnalysis) -> list[ApiPayment]:
    found = []
    for command in analysis.shell.commands:
        arguments = " ".join(command.argv[1:])
        for program, pattern in _WALLET_SENDS:
            if command.name == program and pattern.search(arguments):
                shown = f"`{program} {arguments[:100]}` (coins, whose value cannot be read)"
                found.append(ApiPayment(shown, "financial_drain.api_money_movement", (), False, "", "", False))
    return found


# Payment CLIs of any provider: a program whose name names money and a subcommand that sends it.
_PAYMENT_PROGRAM_WORDS = frozenset({"venmo", "zelle", "cashapp", "paypal", "wise", "revolut", "monzo", "pay",
                                    "payments", "bank", "banking", "payout", "payouts"})  # fmt: skip
_PAYMENT_VERBS = frozenset({"pay", "send", "transfer", "payout", "wire", "remit"})
_CLI_AMOUNT = re.compile(r"^[$€£]?\d{1,12}(?:[.,]\d{1,2})?$")


def _cli_payments(analysis: CallAnalysis) -> list[ApiPayment]:
    found = []
    for command in analysis.shell.commands:
        if not _PAYMENT_PROGRAM_WORDS & set(re.findall(r"[a-z]+", command.name.casefold())):
            continue
        words = [word for word in command.argv[1:] if not word.startswith("-")]
        verbs = [index for index, word in enumerate(words[:3]) if word.casefold() in _PAYMENT_VERBS]
        if not verbs:
            continue
        rest = words[verbs[0] + 1 :]
        amounts = [word.lstrip("$€£") for word in rest if _CLI_AMOUNT.match(word)][:1]
        recipient = next((word.casefold() for word in rest if not _CLI_AMOUNT.match(word)), "")
        shown = f"`{command.name} {' '.join(command.argv[1:])[:100]}`"
        found.append(
            ApiPayment(
                shown, "financial_drain.api_money_movement", tuple(("amount", a) for a in amounts), False, "",
                recipient, False,
            )
        )  # fmt: skip
    return found


def api_payments(analysis: CallAnalysis) -> list[ApiPayment]:
    """Every request of the call that moves money through a listed payment endpoint."""
    return analysis.memo("api_payments", lambda: _api_payments(analysis))


def _api_payments(analysis: CallAnalysis) -> list[ApiPayment]:
    payments = _wallet_sends(analysis) + _cli_payments(analysis)
    for match in api_matches(analysis, "financial_drain"):
        amounts, currency, recipient = [], "", ""
        for key, value in match.request.fields:
            parts = [part for part in key.split(".") if part and not part.isdigit()]
            leaf = parts[-1] if parts else key
            parent = parts[-2] if len(parts) > 1 else ""
            nested = parent in _AMOUNT_PARENTS
            if (leaf in _AMOUNT_LEAVES and not nested) or (leaf in ("value", "amount") and nested):
                amounts.append((key, value))
            elif leaf in ("currency", "currency_code") and not currency:
                currency = value
            elif leaf in _RECIPIENT_LEAVES and not recipient and value.strip():
                recipient = value.strip().casefold()
        refund = match.endpoint.clause.endswith("api_refund")
        if not recipient and match.provider.id == "any":
            # An API no table lists names its payee in a shape nobody can read: it counts as a new one.
            recipient = f"{match.request.host or '-'}{match.request.path[:80]}".casefold()
        payments.append(
            ApiPayment(
                match.describe(),
                match.endpoint.clause,
                tuple(amounts),
                match.provider.minor_units,
                currency,
                "" if refund else recipient,
                refund,
            )
        )
    return payments


def is_refund(analysis: CallAnalysis) -> bool:
    """A refund through a payment tool that names the payment it returns."""
    if not analysis.intent_words & _REFUND_WORDS:
        return False
    return any(value.is_key and value.folded in _REFERENCES for value in analysis.text.values)


def reads_only(analysis: CallAnalysis) -> bool:
    """A payment tool that only reads: balances, transaction history, a payout's status."""
    words = analysis.intent_words
    return bool(words & _READ_WORDS) and not words & (_ACTION_WORDS | _REFUND_WORDS)
