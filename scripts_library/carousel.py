"""ProductCarousel: which product is current; rotates on a schedule or on the admin's `/product ID`.

The current product is persisted through an injected setter (the knowledge store's
``set_current_product``), so the brain reads the same value when it answers "how much is it?".
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

log = logging.getLogger(__name__)


class UnknownProduct(LookupError):
    """`/product ID` named a product that is neither in the carousel nor in the store."""


class ProductCarousel:
    """Round-robin over ``products``; ``select()`` jumps to any known product."""

    def __init__(
        self,
        products: Sequence[str],
        set_current: Callable[[str], None],
        get_current: Callable[[], str | None] | None = None,
        is_known: Callable[[str], bool] | None = None,
        on_change: Callable[[str, str], None] | None = None,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._products = list(dict.fromkeys(products))
        self._set = set_current
        self._get = get_current
        self._is_known = is_known
        self._on_change = on_change
        self._current: str | None = None
        self._refresh_s = refresh_s
        self._clock = clock
        self._read_at = float("-inf")

    @property
    def products(self) -> list[str]:
        return list(self._products)

    @property
    def current(self) -> str | None:
        """The current product; re-read through the store's getter at most every ``refresh_s`` (it is a query)."""
        if self._get is not None and self._clock() - self._read_at >= self._refresh_s:
            try:
                self._current = self._get()
                self._read_at = self._clock()
            except Exception:
                log.exception("reading the current product failed")
        return self._current

    def rotate(self, skip: Callable[[str], bool] | None = None) -> str | None:
        """Move to the next product after the current one that ``skip`` does not reject (e.g. sold out).

        Returns the new current product, or None (empty carousel, or every other product skipped).
        """
        if not self._products:
            return None
        current = self.current
        start = self._products.index(current) + 1 if current in self._products else 0
        for offset in range(len(self._products)):
            product_id = self._products[(start + offset) % len(self._products)]
            if skip is not None and skip(product_id):
                continue
            if product_id == current:
                return None
            self._apply(product_id, "carousel")
            return product_id
        return None

    def select(self, product_id: str, reason: str = "admin") -> str:
        """Make ``product_id`` current now; raises UnknownProduct if nobody knows it."""
        product_id = product_id.strip()
        known = product_id in self._products or (self._is_known is not None and self._is_known(product_id))
        if not known:
            raise UnknownProduct(product_id)
        self._apply(product_id, reason)
        return product_id

    def _apply(self, product_id: str, reason: str) -> None:
        self._set(product_id)
        self._current, self._read_at = product_id, self._clock()
        log.info("current product", extra={"product": product_id, "reason": reason})
        if self._on_change is not None:
            self._on_change(product_id, reason)
