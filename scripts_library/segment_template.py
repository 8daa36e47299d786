"""One script segment as a template: literal text, alternatives `[a|b]` and variables `{name}`.

Parsing happens once at load time; filling (choosing alternatives, reading variable values) happens
at speaking time, so prices and stock are never stale.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Hashable

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(ValueError):
    """A syntax problem in one segment; ``column`` is 1-based within the segment's line."""

    def __init__(self, message: str, column: int):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Variable:
    """`{name}` in a segment."""

    name: str


@dataclass(frozen=True)
class Alternatives:
    """`[a|b|c]` in a segment."""

    options: tuple[str, ...]


Piece = str | Variable | Alternatives


@dataclass(frozen=True)
class SegmentTemplate:
    """A parsed segment; ``pieces`` alternate literal strings, variables and alternatives."""

    source: str
    pieces: tuple[Piece, ...]

    @property
    def alternatives(self) -> list[Alternatives]:
        return [p for p in self.pieces if isinstance(p, Alternatives)]

    @property
    def variables(self) -> set[str]:
        """Every variable name, including those inside alternatives."""
        names = {p.name for p in self.pieces if isinstance(p, Variable)}
        for alt in self.alternatives:
            for option in alt.options:
                names.update(_variables_in(option))
        return names

    def fill(self, choices: tuple[int, ...], value_of: Callable[[str], str | None]) -> str:
        """Render with the given option index per alternative; raises MissingValue if a value is absent."""
        out: list[str] = []
        alt_index = 0
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif isinstance(piece, Variable):
                out.append(_value(piece.name, value_of))
            else:
                option = piece.options[choices[alt_index]]
                alt_index += 1
                out.append(_fill_inline_variables(option, value_of))
        return "".join(out).strip()


class MissingValue(LookupError):
    """A variable has no value right now (unknown product, no viewer count yet...)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _value(name: str, value_of: Callable[[str], str | None]) -> str:
    value = value_of(name)
    if value is None:
        raise MissingValue(name)
    return value


def _variables_in(text: str) -> set[str]:
    return set(re.findall(r"\{([^{}]*)\}", text))


def _fill_inline_variables(text: str, value_of: Callable[[str], str | None]) -> str:
    return re.sub(r"\{([^{}]*)\}", lambda m: _value(m.group(1), value_of), text)


def parse_segment(text: str) -> SegmentTemplate:
    """Parse one segment line; raises TemplateError naming the column of the first problem."""
    pieces: list[Piece] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "[":
            end = _closing(text, i, "[", "]", "alternative")
            body = text[i + 1 : end]
            options = tuple(body.split("|"))
            if len(options) < 2:
                raise TemplateError(f"alternative '[{body}]' has one option; write [a|b]", i + 1)
            for option in options:
                _check_variables(option, i + 2)
            _flush(literal, pieces)
            pieces.append(Alternatives(options))
            i = end + 1
        elif ch == "{":
            end = _closing(text, i, "{", "}", "variable")
            name = text[i + 1 : end]
            if not VARIABLE_NAME.match(name):
                raise TemplateError(f"bad variable name '{{{name}}}'", i + 1)
            _flush(literal, pieces)
            pieces.append(Variable(name))
            i = end + 1
        elif ch in "]}":
            raise TemplateError(f"'{ch}' without an opening bracket", i + 1)
        else:
            literal.append(ch)
            i += 1
    _flush(literal, pieces)
    return SegmentTemplate(text, tuple(pieces))


def _closing(text: str, start: int, opening: str, closing: str, what: str) -> int:
    """Index of the bracket closing the one at ``start``; nesting and line ends are errors."""
    # Inside [a|b] only another '[' is wrong ({var} may appear in an option); inside {var} any bracket is.
    forbidden = "[" if what == "alternative" else "{[]"
    for j in range(start + 1, len(text)):
        ch = text[j]
        if ch == closing:
            return j
        if ch in forbidden:
            raise TemplateError(f"unbalanced '{opening}': '{ch}' before the closing '{closing}'", start + 1)
    raise TemplateError(f"unbalanced '{opening}': no closing '{closing}' on this line", start + 1)


def _check_variables(option: str, column: int) -> None:
    depth = 0
    for ch in option:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth not in (0, 1):
            raise TemplateError("unbalanced '{' inside an alternative", column)
    if depth:
        raise TemplateError("unbalanced '{' inside an alternative", column)
    for name in _variables_in(option):
        if not VARIABLE_NAME.match(name):
            raise TemplateError(f"bad variable name '{{{name}}}'", column)


def _flush(literal: list[str], pieces: list[Piece]) -> None:
    if literal:
        pieces.append("".join(literal))
        literal.clear()


class AlternativePicker:
    """Chooses alternative options at random, never the same option twice in a row for one spot."""

    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or random.Random()
        self._last: dict[Hashable, int] = {}

    def choose(self, key: Hashable, template: SegmentTemplate) -> tuple[int, ...]:
        """One option index per alternative of ``template``; ``key`` names the segment (script, index)."""
        picks = []
        for n, alt in enumerate(template.alternatives):
            spot = (key, n)
            count = len(alt.options)
            last = self._last.get(spot)
            candidates = [k for k in range(count) if k != last] or list(range(count))
            pick = self._rng.choice(candidates)
            self._last[spot] = pick
            picks.append(pick)
        return tuple(picks)
