"""The balance of a by-product a process makes (gas, steam): the quantity of the users no meter sees.

A works meters its by-product gases where they are made (the generation) and at most of the places they are
burned; a few small users are not metered. Per process the carbon follows the gas (a transfer counts at the user
and, with a minus sign, at the maker: see ``calculation._transferred``); for a user without a meter the quantity
comes from its maker's balance, by one documented rule:

    rest = generation − Σ the other users' quantities (metered or entered) − Σ what the maker sells
    a balance user's quantity = rest × its declared share

* The **generation** is a source at the maker with direction ``made`` and the same item (e.g. ``BFG`` at the blast
  furnace). It is no emission and no energy of its own: the gas's carbon and energy are counted where they enter
  (the coke at the blast furnace) and where they are burned; the generation only feeds the balance.
* The **shares** of a maker's balance users of one item add up to at most 1. What is left, rest × (1 − Σ shares),
  is flared, diffused or lost and stays at the maker, as unmetered gas always did.
* A **negative rest** (the metered uses and sales exceed the generation: a meter reads high or one is missing)
  gives the balance users nothing, and the quantity's origin says by how much the balance is short.
* A balanced quantity is **estimated** (derived, not measured) and **complete** only when every quantity of the
  balance is.

Everything is in ``Decimal`` and in the balance user's unit; the origin text names every quantity it used.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from cem_platform.accounting import units
from cem_platform.accounting.engine import Quantity
from cem_platform.accounting.formulas import PRECISION, AccountingError

__all__ = ["BALANCE", "MADE", "Peer", "balanced", "check_share"]

#: The origin of an activity input whose quantity is the maker's balance (with a ``share``).
BALANCE = "balance"
#: The direction of a generation line: what a process makes, feeding its balance only.
MADE = "made"
_ONE = Decimal(1)


@dataclasses.dataclass(frozen=True, slots=True)
class Peer:
    """One quantity of a balance: the generation, another user's transfer, or a sale at the maker."""

    code: str  # the source's code
    quantity: Quantity


def check_share(value: object, what: str) -> Decimal:
    """A declared share as a Decimal within (0, 1]; AccountingError otherwise."""
    try:
        share = value if isinstance(value, Decimal) else Decimal(str(value)) if isinstance(value, str | int) else None
    except InvalidOperation:
        share = None
    if share is None or not share.is_finite():
        raise AccountingError(f"{what}: {value!r} is not a decimal number.", hint='Give it as text, e.g. "0.25".')
    if not Decimal(0) < share <= _ONE:
        raise AccountingError(
            f"{what} is {share}: a balance share lies above 0 and at most 1.",
            hint="The share of the maker's unmetered rest this user burns, e.g. 0.25 for a quarter.",
        )
    return share


def _in(quantity: Quantity, unit: str, what: str) -> Decimal:
    try:
        return units.convert(quantity.value, quantity.unit, unit)
    except units.UnitError as err:
        raise AccountingError(
            f"{what}: {err}", hint="The generation, the users and the sales of one item are kept in one dimension."
        ) from None


def balanced(
    *,
    label: str,
    unit: str,
    share: Decimal,
    shares_total: Decimal,
    made: Sequence[Peer],
    used: Sequence[Peer],
    sold: Sequence[Peer],
) -> Quantity:
    """A balance user's quantity (``share`` of the rest), in ``unit``. ``shares_total``: the shares of every
    balance user of this maker and item (at most 1). ``made``: the generation lines (at least one), ``used``: the
    other users' quantities, ``sold``: the maker's sales of the item (entered positive)."""
    if not made:
        raise AccountingError(
            f"{label}: the maker has no generation line for the balance.",
            hint="Add a source at the maker with direction 'made', the same item and a meter or entered data.",
        )
    if shares_total > _ONE:
        raise AccountingError(
            f"{label}: the balance shares of this maker's users add up to {shares_total}, more than 1.",
            hint="Lower the shares so that together they are at most 1 (the rest stays at the maker).",
        )
    with decimal.localcontext() as context:
        context.prec = PRECISION
        return _balanced(label, unit, share, made, used, sold)


def _balanced(
    label: str, unit: str, share: Decimal, made: Sequence[Peer], used: Sequence[Peer], sold: Sequence[Peer]
) -> Quantity:
    generation = sum((_in(p.quantity, unit, f"{label}, generation {p.code}") for p in made), Decimal(0))
    uses = sum((_in(p.quantity, unit, f"{label}, user {p.code}") for p in used), Decimal(0))
    sales = sum((_in(p.quantity, unit, f"{label}, sale {p.code}") for p in sold), Decimal(0))
    rest = generation - uses - sales
    value = rest * share if rest > 0 else Decimal(0)
    parts = [f"made {'+'.join(p.code for p in made)} {units.exact_text(generation)}"]
    if used:
        parts.append(f"− used {'+'.join(p.code for p in used)} {units.exact_text(uses)}")
    if sold:
        parts.append(f"− sold {'+'.join(p.code for p in sold)} {units.exact_text(sales)}")
    origin = f"{label}: balance ({' '.join(parts)} = {units.exact_text(rest)} {unit}) × share {share}"
    if rest < 0:
        origin += f"; the metered uses exceed the generation by {units.exact_text(-rest)} {unit}: nothing to share"
    peers = (*made, *used, *sold)
    return Quantity(value, unit, origin, complete=all(p.quantity.complete for p in peers), estimated=True)
