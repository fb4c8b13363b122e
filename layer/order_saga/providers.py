"""The payment provider and the carrier, behind small interfaces so real ones can replace the simulations.

Both simulations are deterministic: a charge, a refund and a tracking number are derived from the order,
so calling a provider twice for one order has one effect (the provider-side idempotency key).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Protocol

from pydantic import SecretStr

from order_saga.errors import PaymentDeclined, ShippingFailed
from order_saga.models import Address


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


class PaymentProvider(Protocol):
    def charge(self, *, order_id: str, amount: int, currency: str, token: SecretStr) -> str:
        """Charge the order once; return the payment id or raise ``PaymentDeclined``."""
        ...

    def refund(self, *, payment_id: str, amount: int, currency: str) -> str:
        """Refund a payment once; return the refund id."""
        ...


class Carrier(Protocol):
    def ship(self, *, order_id: str, address: Address) -> str:
        """Book the shipment once; return the tracking number or raise ``ShippingFailed``."""
        ...


class SimulatedPayments:
    DECLINED_TOKEN = "tok_chargeDeclined"  # noqa: S105  (the contract's test token)

    def charge(self, *, order_id: str, amount: int, currency: str, token: SecretStr) -> str:
        if token.get_secret_value() == self.DECLINED_TOKEN:
            raise PaymentDeclined("Payment declined")
        return "pay_" + _digest("charge", order_id)[:24]

    def refund(self, *, payment_id: str, amount: int, currency: str) -> str:
        return "ref_" + _digest("refund", payment_id)[:24]


class SimulatedCarrier:
    UNSERVED_COUNTRIES = frozenset({"AQ"})

    def ship(self, *, order_id: str, address: Address) -> str:
        if address.country in self.UNSERVED_COUNTRIES:
            raise ShippingFailed(f"Carrier does not deliver to {address.country}")
        return "TRK-" + _digest("shipment", order_id)[:8].upper()


@functools.cache
def payments() -> PaymentProvider:
    return SimulatedPayments()


@functools.cache
def carrier() -> Carrier:
    return SimulatedCarrier()
