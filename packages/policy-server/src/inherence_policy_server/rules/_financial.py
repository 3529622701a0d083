"""Financial drain: per-call limit, first payments to new recipients (any amount, and a stricter
limit), recipient or amount changes of recurring payments, and hour/day/week velocity per
account (sums and counts).

Amounts are read from the arguments: numbers, strings such as "12,500.00", "$1,200" or
"1.200,50 EUR", and minor-unit fields (`amount_cents`, `unit_amount`, `amount_minor`; a
plain integer `amount` on a Stripe tool, whose API counts in minor units). An amount field
that does not parse is suspicious. Velocity is reserved atomically through the ledger.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from decimal import Decimal, InvalidOperation

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, Mode, SessionLedger, VelocityTotals
from inherence_policy_server.rules._config import FinancialDrainConfig, RulesConfig
from inherence_policy_server.rules._exfiltration import tenant_of
from inherence_policy_server.rules._financial_api import ApiPayment, api_payments, is_refund, reads_only
from inherence_policy_server.rules._outcomes import OWN_ACCOUNT, account_key
from inherence_policy_server.rules._text import name_words

__all__ = ["RULE", "evaluate", "may_find_in_prose_read", "parse_amount_cents", "record_transfer"]

RULE = "financial_drain"

_MINOR_KEYS = frozenset({"amount_cents", "cents", "amount_in_cents", "amount_minor", "amount_minor_units",
                         "unit_amount", "minor_units", "value_cents", "total_cents", "price_cents"})  # fmt: skip
_MAJOR_KEYS = frozenset({"amount", "value", "total", "sum", "price", "amount_usd", "amount_eur", "transfer_amount",
                         "payment_amount", "payout_amount", "amount_major", "unit_amount_decimal"})  # fmt: skip
_RECIPIENT_KEYS = ("recipient", "payee", "beneficiary", "destination", "to", "to_account", "destination_account",
                   "recipient_id", "payee_id", "iban", "account_number", "receiver", "new_recipient", "new_payee",
                   "wallet", "address", "vendor", "email",
                   # a savings pot, vault or space of the user's own account (Monzo, Revolut, N26)
                   "pot_id", "vault_id", "space_id", "goal_id")  # fmt: skip
_ACCOUNT_KEYS = ("account", "from_account", "source_account", "account_id", "source", "from", "funding_source")
_RECURRING_WORDS = frozenset({"schedule", "scheduled", "recurring", "subscription", "standing", "mandate", "recurrence",
                              "interval", "autopay", "payee"})  # fmt: skip
# Words of a standing order itself ("payee" alone also names the recipient of a one-off payment).
_STANDING_WORDS = _RECURRING_WORDS - {"payee"}
_CHANGE_WORDS = frozenset({"update", "change", "modify", "edit", "set", "patch", "replace"})
# A tool that asks someone else to pay the user moves no money out of the user's account.
_REQUEST_WORDS = frozenset({"request", "requests", "collect"})
_OUTGOING_WORDS = frozenset({"send", "pay", "payout", "payouts", "transfer", "withdraw", "withdrawal", "refund", "wire",
                             "disburse"})  # fmt: skip
# A booking pays the merchant behind the tool: a `destination` without digits (SEA, Hamburg) is where the
# traveller goes, not a payee; an account, card or wallet identifier has digits.
_BOOKING_WORDS = frozenset({"book", "booking", "reserve", "reservation", "checkout"})
_ORDER_WORDS = frozenset({"order", "flight", "hotel", "ticket", "tickets", "travelers", "travellers", "passengers"})
# A budgeting or bookkeeping app's ledger (YNAB, Actual, Firefly III, Lunch Money, QuickBooks, Xero, Splitwise):
# an entry recorded there is the user's own note of a payment, and moves no money.
_BOOKKEEPING = frozenset({"ynab", "budget", "budgets", "ledger", "bookkeeping", "quickbooks", "qbo", "xero",
                          "freshbooks", "firefly", "lunchmoney", "splitwise", "actualbudget", "beancount",
                          "hledger", "gnucash"})  # fmt: skip
_LEDGER_OUTGOING = _OUTGOING_WORDS - {"refund"}
_ASKED = (Mode.ENFORCE, Mode.CONFIRM)
_ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof", "pyg", "huf"})
_EXPONENT = re.compile(r"\d[eE][-+]?\d")
_NUMBER = re.compile(r"[-+]?\d[\d,.' ]*")


def parse_amount_cents(value: object, *, minor: bool, currency: str = "") -> int | None:
    """An amount in minor units, or None when it cannot be read with confidence."""
    if isinstance(value, bool):
        return None
    zero_decimal = currency.casefold() in _ZERO_DECIMAL or (isinstance(value, str) and ("¥" in value or "₩" in value))
    scale = 1 if zero_decimal else 100
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
    elif isinstance(value, str):
        match = _NUMBER.search(value.replace("\u00a0", " "))
        if match is None or len(value) > 64 or _EXPONENT.search(value):
            return None
        parsed = _decimal_from_text(match.group(0).strip().replace(" ", "").replace("'", ""))
        if parsed is None:
            return None
        number = parsed
    else:
        return None
    if not number.is_finite():
        return None
    cents = abs(number) if minor else abs(number) * scale
    return int(cents.to_integral_value())


def _decimal_from_text(text: str) -> Decimal | None:
    # The separator that comes last is the decimal one when both appear (1.200,50 or 1,200.50);
    # a lone comma followed by exactly three digits is a thousands separator (12,500).
    if "," in text and "." in text:
        decimal_separator = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_separator == "," else ","
        text = text.replace(thousands, "").replace(decimal_separator, ".")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        text = text.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _first_string(analysis: CallAnalysis, keys: tuple[str, ...]) -> str:
    """The first non-blank value under the first of `keys` that has one, folded."""
    firsts = analysis.memo("first_strings", lambda: _first_strings(analysis))
    for key in keys:
        found = firsts.get(key)
        if found is not None:
            return found
    return ""


def _first_strings(analysis: CallAnalysis) -> dict[str, str]:
    # One pass over the values, asked for by several key lists: the first non-blank value per key.
    firsts: dict[str, str] = {}
    for value in analysis.values(payload=False):
        if not value.is_key and value.key not in firsts and value.raw.strip():
            firsts[value.key] = value.raw.strip().casefold()
    return firsts


def _amounts(call: Call, analysis: CallAnalysis) -> tuple[int, list[str]]:
    currency = _first_string(analysis, ("currency", "currency_code"))
    stripe = "stripe" in f"{call.tool_name} {call.upstream or ''}".casefold()
    total, unreadable = 0, []
    candidates: list[tuple[str, str | float]] = [
        (value.key, value.raw) for value in analysis.text.strings() if not value.derived
    ]
    candidates += [(key, number) for _, key, number in analysis.text.numbers]
    for key, raw in candidates:
        minor = key in _MINOR_KEYS or (stripe and key == "amount" and isinstance(raw, (int, float)))
        if not minor and key not in _MAJOR_KEYS:
            continue
        if isinstance(raw, float) and raw.is_integer() and key in _MAJOR_KEYS and stripe:
            minor = True
        cents = parse_amount_cents(
            int(raw) if isinstance(raw, float) and raw.is_integer() else raw, minor=minor, currency=currency
        )
        if cents is None:
            unreadable.append(f"{key} = {str(raw)[:40]!r}")
        else:
            total += cents
    return total, unreadable


@dataclasses.dataclass(frozen=True)
class _Transfer:
    """The money a call moves, read once for both deciding and recording it."""

    account: str
    recipient: str
    cents: int
    unreadable: tuple[str, ...]
    # Payment API requests (a raw HTTP call or a payments CLI) that state no amount.
    unstated: tuple[ApiPayment, ...] = ()


def _transfer(call: Call, analysis: CallAnalysis) -> _Transfer | None:
    """The transfer of a money-moving call; None for a call that moves no money (read once per call)."""
    return analysis.memo("transfer", lambda: _read_transfer(call, analysis))


def _own_account(recipient: str, config: RulesConfig, ledger: SessionLedger, tenant: str) -> bool:
    """Whether the money goes to one of the user's own accounts.

    Those are `[organisation] own_accounts`, and the accounts the bank's own accounts tool listed
    (`own_accounts` of what a call returned).
    """
    key = account_key(recipient) if recipient else ""
    if not key:
        return False
    if any(account_key(own) == key for own in config.organisation.own_accounts):
        return True
    return ledger.is_known_recipient(tenant, f"{OWN_ACCOUNT}{key}")


# Keys named for whoever receives, in any provider's spelling: `recipient_username`, `destination_address`,
# `to_member_id`, `beneficiary_iban`.
_RECIPIENT_LIKE = re.compile(
    r"^(?:to_|target_?account|recipient|payee|beneficiary|destination|receiver|counterparty)"
    r"|_(?:recipient|payee|receiver)$"
)


def _recipient_like(analysis: CallAnalysis) -> str:
    for value in analysis.values(payload=False):
        if not value.is_key and value.key and _RECIPIENT_LIKE.search(value.key) and value.raw.strip():
            return value.raw.strip().casefold()
    # An account number given as a number: `{"targetAccount": 88112233}`.
    for _, key, number in analysis.text.numbers:
        if key and _RECIPIENT_LIKE.search(key) and float(number).is_integer():
            return str(int(number))
    return ""


def _read_transfer(call: Call, analysis: CallAnalysis) -> _Transfer | None:
    words = analysis.intent_words
    recipient = _first_string(analysis, _RECIPIENT_KEYS) or _recipient_like(analysis)
    booking = bool(words & _BOOKING_WORDS) and not words & _OUTGOING_WORDS
    if booking and recipient == _first_string(analysis, ("destination",)) and not re.search(r"\d", recipient):
        recipient = _first_string(analysis, tuple(key for key in _RECIPIENT_KEYS if key != "destination"))
    if (booking or words & _ORDER_WORDS) and recipient and recipient == _first_string(analysis, ("email",)):
        recipient = ""  # a traveller's or buyer's own address: the merchant behind the tool is paid
    payments = api_payments(analysis)
    if not payments and (_requests_money(call) or _bookkeeping(call)):
        return None
    moving = call.category is Category.PAYMENT or (
        call.category not in (Category.READ_ONLY, Category.FILE_READ, Category.PRIVATE_DATA_READ)
        and bool(words & (_MAJOR_KEYS | _MINOR_KEYS))
        and (bool(recipient) or bool(words & {"currency", "transfer", "payout", "payment", "pay", "charge", "send"}))
    )
    if not payments and (not moving or reads_only(analysis)):
        return None
    account = f"{call.upstream or '-'}:{_first_string(analysis, _ACCOUNT_KEYS) or 'default'}"
    if payments:
        cents, unreadable, recipient, unstated = _api_amounts(payments)
        return _Transfer(account, recipient, cents, tuple(unreadable), tuple(unstated))
    cents, unreadable = _amounts(call, analysis)
    if is_refund(analysis):
        recipient = ""  # the money goes back to whoever paid the payment the refund names
    return _Transfer(account, recipient, cents, tuple(unreadable))


def _changes_standing_order(call: Call, analysis: CallAnalysis, config: RulesConfig) -> bool:
    """An update of an existing standing order that a person is asked about (or that is denied).

    Such an update moves no money now (a tool named to send or pay does); a user who only logs
    standing-order changes keeps the payment limits on them.
    """
    clause = f"{RULE}.recurring_recipient_change"
    if not config.financial_drain.deny_recurring_recipient_change or config.clause_mode(clause) not in _ASKED:
        return False
    words = analysis.intent_words
    name = name_words(call.tool_name)
    return bool(words & _STANDING_WORDS and words & _CHANGE_WORDS) and not name & _OUTGOING_WORDS


def _sends_out(call: Call) -> bool:
    """A tool named for money leaving the account (`create_transfer`, `send_payment`, `withdraw`)."""
    name = name_words(call.tool_name)
    return bool(name & _OUTGOING_WORDS) and not _requests_money(call)


def _bookkeeping(call: Call) -> bool:
    """An entry in the user's own budget or books (`ynab.create_transaction`), not an order to pay."""
    name = name_words(call.tool_name)
    return bool((name_words(call.upstream or "") | name) & _BOOKKEEPING) and not name & _LEDGER_OUTGOING


def _requests_money(call: Call) -> bool:
    """`RequestPayment`, `request_money`, `create_invoice`: the user is to be paid, nothing leaves the account."""
    name = name_words(call.tool_name)
    if name & {"invoice", "invoices"} and name & {"create", "send", "draft", "new", "issue"} and not name & {"pay"}:
        return True  # `create_invoice`, `send_invoice`: a bill to a client, who pays the user
    return (
        bool(name & _REQUEST_WORDS)
        and bool(name & {"payment", "payments", "money", "funds"})
        and not (name & _OUTGOING_WORDS)
    )


# The bank account a payee, a supplier or an employee's pay is sent to: replaced, every later payment goes there.
_BANK_DETAIL_KEYS = frozenset({"account_number", "accountnumber", "routing_number", "routingnumber", "iban",
                               "sort_code", "sortcode", "bank_account", "bankaccount", "bank_account_details",
                               "bankaccountdetails", "bank_details", "bankdetails", "bsb", "bic", "swift", "swift_code",
                               "bank_account_number", "payout_account", "deposit_account",
                               "direct_deposit", "external_account", "externalaccount", "payout_bank_account",
                               "payout_destination", "settlement_account", "destination_account",
                               "bank_account_id"})  # fmt: skip
_REPLACING = frozenset({"update", "change", "set", "edit", "modify", "replace", "patch", "switch", "put"})
_ONLY_READING = frozenset({"get", "list", "read", "search", "find", "show", "view", "describe", "lookup", "verify",
                           "validate", "check"})  # fmt: skip


def _bank_details_change(call: Call, analysis: CallAnalysis) -> list[Finding]:
    """A payee's, supplier's or employee's bank account replaced (`update_employee_bank_account`, `update_contact`)."""
    words = analysis.intent_words
    if not words & _REPLACING or (words & _ONLY_READING and not words & {"update", "change", "replace"}):
        return []
    changed = sorted(
        {
            value.folded
            for value in analysis.text.values
            if value.is_key and value.folded.replace("-", "_") in _BANK_DETAIL_KEYS
        }
    )
    if not changed:
        return []
    return [
        Finding(
            RULE,
            f"{RULE}.recurring_recipient_change",
            f"The call replaces the bank account later payments go to ({', '.join(changed[:3])}).",
        )
    ]


def evaluate(
    call: Call,
    config: RulesConfig,
    ledger: SessionLedger,
    now: datetime.datetime,
    analysis: CallAnalysis | None = None,
    *,
    record: bool = True,
) -> list[Finding]:
    """Object to transfers over the limits, to new payees and to changed standing orders.

    With `record`, a transfer nothing objects to is reserved in the velocity windows; the
    engine instead decides without recording and calls `record_transfer` for a call it lets
    through (a call a person must confirm first takes no place in the windows until then).
    """
    analysis = analysis or CallAnalysis(call)
    section = config.financial_drain
    words = analysis.intent_words
    if section.deny_recurring_recipient_change:
        replaced = _bank_details_change(call, analysis)
        if replaced:
            return replaced  # no money moves now: where all later payments go does
    transfer = _transfer(call, analysis)
    if transfer is None or _own_account(transfer.recipient, config, ledger, tenant_of(call)):
        return []
    account, recipient, cents, unreadable = transfer.account, transfer.recipient, transfer.cents, transfer.unreadable
    findings = [
        Finding(
            RULE,
            payment.clause,
            f"{payment.what} moves money without stating how much."
            if payment.clause in _AMOUNT_CLAUSES
            else f"{payment.what} adds or changes where money goes (a payee or a scheduled payment).",
        )
        for payment in transfer.unstated[:3]
    ]
    if unreadable:
        findings.append(
            Finding(RULE, f"{RULE}.unreadable_amount", f"The amount cannot be read with confidence: {unreadable[0]}.")
        )
    known = bool(recipient) and (
        recipient in (payee.casefold() for payee in config.organisation.known_payees)
        or ledger.known_recipient(account, recipient)
    )
    standing_order_change = bool(words & _RECURRING_WORDS and words & _CHANGE_WORDS)
    changed = len(findings)
    if section.deny_recurring_recipient_change and standing_order_change and recipient and not known:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.recurring_recipient_change",
                f"A recurring payment would now go to the new recipient {recipient}.",
            )
        )
    elif section.deny_recurring_recipient_change and standing_order_change and cents and words & _STANDING_WORDS:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.recurring_recipient_change",
                f"A recurring payment{f' to {recipient}' if recipient else ''} would change to {_money(cents)}.",
            )
        )
    if len(findings) > changed and _changes_standing_order(call, analysis, config):
        # The person asked about the change sees its recipient and amount; the per-call, first-payment and
        # velocity limits are for money that leaves the account now, which a standing order's update does not.
        return findings
    if recipient and not known and cents > 0:
        findings.append(
            Finding(
                RULE, f"{RULE}.new_recipient", f"A first payment of {_money(cents)} to {recipient}, never paid before."
            )
        )
    elif recipient and not known and not unreadable and _sends_out(call):
        # `create_transfer(targetAccount, quoteUuid)`: the amount sits in a quote made earlier.
        findings.append(
            Finding(
                RULE, f"{RULE}.new_recipient", f"A first payment to {recipient}, never paid before (amount not stated)."
            )
        )
    if cents > section.hard_limit_cents:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.hard_limit",
                f"{_money(cents)} is over the hard limit of {_money(section.hard_limit_cents)}.",
            )
        )
    elif cents > section.per_call_limit_cents and not known:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.per_call_limit",
                f"{_money(cents)} is over the per-call limit of {_money(section.per_call_limit_cents)}.",
            )
        )
    elif recipient and not known and cents > section.new_recipient_limit_cents:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.new_recipient_limit",
                f"A first payment of {_money(cents)} to {recipient} is over the new-recipient limit of "
                f"{_money(section.new_recipient_limit_cents)}.",
            )
        )
    if cents == 0:
        return findings
    if record and not findings:
        totals = ledger.reserve_transfer(account, recipient, cents, now, _window_limits(section, cents))
        if totals is not None:
            return []
    # Checked even beside other findings: a call a person could confirm is denied if it is over the windows.
    velocity = _velocity(ledger.window_totals(account, now), cents, _window_limits(section, cents))
    if velocity is not None:
        return [*findings, velocity]
    if record and not findings:
        return [Finding(RULE, f"{RULE}.velocity_day", "The velocity windows are full for this account.")]
    return findings


def record_transfer(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> Finding | None:
    """Reserve the transfer of a call that is let through; a velocity finding if the windows filled up meanwhile."""
    analysis = analysis or CallAnalysis(call)
    transfer = _transfer(call, analysis)
    if transfer is None or _own_account(transfer.recipient, config, ledger, tenant_of(call)):
        return None
    if transfer.cents == 0 and not (transfer.recipient and _sends_out(call)):
        return None
    if _changes_standing_order(call, analysis, config):
        return None  # a standing order's update, which a person confirmed, moves no money now
    limits = _window_limits(config.financial_drain, transfer.cents)
    if transfer.cents == 0 and transfer.recipient and _sends_out(call):
        # A transfer whose amount is in a quote: its recipient is paid, and known from then on.
        ledger.reserve_transfer(transfer.account, transfer.recipient, 0, now, limits)
        return None
    if ledger.reserve_transfer(transfer.account, transfer.recipient, transfer.cents, now, limits) is not None:
        return None
    velocity = _velocity(ledger.window_totals(transfer.account, now), transfer.cents, limits)
    return velocity or Finding(RULE, f"{RULE}.velocity_day", "The velocity windows are full for this account.")


def _window_limits(section: FinancialDrainConfig, cents: int) -> dict[str, int]:
    """The velocity limits for a transfer of `cents`: a window judges accumulation, never one payment alone.

    One payment's size is for the per-call and hard limits; a window that holds nothing else takes it.
    """
    limits = section.limits()
    for window in ("hour", "day", "week"):
        limits[f"{window}_cents"] = max(limits[f"{window}_cents"], cents)
    return limits


def _velocity(totals: VelocityTotals, cents: int, limits: dict[str, int]) -> Finding | None:
    for window in ("hour", "day", "week"):
        total = getattr(totals, f"{window}_cents") + cents
        count = getattr(totals, f"{window}_count") + 1
        cents_limit, count_limit = limits[f"{window}_cents"], limits[f"{window}_count"]
        if total > cents_limit or count > count_limit:
            return Finding(
                RULE,
                f"{RULE}.velocity_{window}",
                f"This transfer would take the last {window} to {_money(total)} in {count} transfers "
                f"(limits {_money(cents_limit)}, {count_limit} transfers).",
            )
    return None


_AMOUNT_CLAUSES = frozenset({f"{RULE}.api_money_movement", f"{RULE}.api_refund"})


def _api_amounts(payments: list[ApiPayment]) -> tuple[int, list[str], str, list[ApiPayment]]:
    """(cents, unreadable amounts, recipient, payments that state no amount) over a call's API payments."""
    cents, unreadable, recipient, unstated = 0, [], "", []
    for payment in payments:
        if payment.clause not in _AMOUNT_CLAUSES:
            unstated.append(payment)  # a payee or a standing order: asked about whatever it states
            continue
        if not payment.amounts:
            unstated.append(payment)
        for key, raw in payment.amounts:
            value = parse_amount_cents(raw, minor=payment.minor_units, currency=payment.currency)
            if value is None:
                unreadable.append(f"{key} = {raw[:40]!r}")
            else:
                cents += value
        recipient = recipient or payment.recipient
    return cents, unreadable, recipient, unstated


def _money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def may_find_in_prose_read(call: Call, config: RulesConfig, analysis: CallAnalysis) -> bool:
    """Whether this rule can find (or record) anything in a prose-only read (the engine's `prose_only_read`).

    A read-only call moves no money unless a payment API or CLI does, and such a call has no
    request and no command line: only a replaced bank account, read from the keys, is left.
    """
    return config.financial_drain.deny_recurring_recipient_change and bool(_bank_details_change(call, analysis))
