"""Variable values read at speaking time: product fields from the store, viewer count, spoken clock time."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Literal

ProductLookup = Callable[[str], Mapping[str, Any] | None]
RUNTIME_VARIABLES = {"viewer_count", "time"}
# Product fields a script may use when no knowledge file is given to `scripts check`.
DEFAULT_PRODUCT_FIELDS = {"id", "name", "price", "list_price", "stock"}


def spoken_time(moment: datetime, language: Literal["zh", "en"]) -> str:
    """Clock time as a host says it: '晚上8点半' / '8:30 PM'."""
    hour, minute = moment.hour, moment.minute
    if language == "zh":
        if hour < 5:
            part = "凌晨"
        elif hour < 9:
            part = "早上"
        elif hour < 12:
            part = "上午"
        elif hour < 13:
            part = "中午"
        elif hour < 18:
            part = "下午"
        else:
            part = "晚上"
        h12 = hour % 12 or 12
        if minute == 0:
            return f"{part}{h12}点"
        if minute == 30:
            return f"{part}{h12}点半"
        return f"{part}{h12}点{minute:02d}分"
    h12 = hour % 12 or 12
    suffix = "AM" if hour < 12 else "PM"
    return f"{h12} {suffix}" if minute == 0 else f"{h12}:{minute:02d} {suffix}"


def format_value(value: Any) -> str | None:
    """A field value as spoken text: 599.0 -> '599', 29.9 -> '29.9'; lists and mappings are not speakable."""
    if value is None or isinstance(value, (list, tuple, set, dict)):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def product_field(product: Any, name: str) -> Any:
    """Read a field from a mapping or an object (store rows may be either)."""
    if isinstance(product, Mapping):
        return product.get(name)
    return getattr(product, name, None)


class SpeakingValues:
    """Resolves `{variable}` names when a line is about to be spoken (never cached)."""

    def __init__(
        self,
        product_lookup: ProductLookup | None = None,
        viewer_count: Callable[[], int | None] | None = None,
        now: Callable[[], datetime] | None = None,
        current_product_id: Callable[[], str | None] | None = None,
    ):
        self._lookup = product_lookup or (lambda _id: None)
        self._viewer_count = viewer_count or (lambda: None)
        self._now = now or (lambda: datetime.now().astimezone())
        self._current = current_product_id or (lambda: None)

    def current_product_id(self) -> str | None:
        return self._current()

    def product(self, product_id: str | None) -> Mapping[str, Any] | None:
        return self._lookup(product_id) if product_id else None

    def resolver(self, product_id: str | None, language: Literal["zh", "en"]) -> Callable[[str], str | None]:
        """A name -> text function for one line; product variables of idle lines use the current product."""
        product_cache: list[Any] = []

        def product() -> Any:
            if not product_cache:
                product_cache.append(self._lookup(product_id or self._current() or "") if (product_id or self._current()) else None)
            return product_cache[0]

        def value_of(name: str) -> str | None:
            if name == "time":
                return spoken_time(self._now(), language)
            if name == "viewer_count":
                count = self._viewer_count()
                return None if count is None else str(int(count))
            found = product()
            return None if found is None else format_value(product_field(found, name))

        return value_of
