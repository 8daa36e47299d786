"""Reading script files: YAML front matter, then segments separated by lines that are exactly '---'.

Format: /work/shared/fixtures/README.md §2. Problems are collected with file:line so an operator
sees all of them at once (`python main.py scripts check DIR`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml

from scripts_library.segment_template import SegmentTemplate, TemplateError, parse_segment
from scripts_library.settings import EVERY_PATTERN

SEPARATOR = "---"
FRONT_MATTER_KEYS = {"product_id", "title", "duration_hint_s", "every", "cron", "at"}
SCHEDULE_KEYS = ("every", "cron", "at")


@dataclass(frozen=True)
class Problem:
    """One finding, printed as ``path:line:col: severity: message``."""

    path: Path
    line: int
    message: str
    column: int = 0
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        where += f":{self.column}" if self.line and self.column else ""
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Schedule:
    """When a script plays by itself: ``every`` ("15m"), ``cron`` (5 fields) or ``at`` (one-off)."""

    kind: Literal["every", "cron", "at"]
    value: str
    line: int

    def interval_seconds(self) -> int:
        """Length of an ``every`` schedule in seconds."""
        match = EVERY_PATTERN.match(self.value)
        assert match and self.kind == "every"
        return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass(frozen=True)
class Segment:
    """One segment of a script: its position, its line in the file and its parsed template."""

    index: int  # 0-based position in the script
    line: int  # 1-based line in the file
    template: SegmentTemplate


@dataclass(frozen=True)
class Script:
    """One parsed file. Scripts without a product (``product_id: null``) are idle-line pools."""

    id: str
    path: Path
    product_id: str | None
    title: str
    segments: tuple[Segment, ...]
    schedule: Schedule | None = None
    duration_hint_s: int | None = None
    product_id_line: int = 0

    @property
    def is_idle_pool(self) -> bool:
        """True for idle lines (no product): the idle filler picks from them one at a time."""
        return self.product_id is None

    @property
    def language(self) -> Literal["zh", "en"]:
        """zh when the text has Chinese characters, else en (how {time} is spoken)."""
        text = "".join(s.template.source for s in self.segments)
        return "zh" if re.search(r"[\u3400-\u9fff]", text) else "en"


class ScriptLoadError(Exception):
    """The script directory has errors; ``problems`` lists each with file:line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0] if problems else "no problems"
        more = f" (and {len(problems) - 1} more; run `python main.py scripts check`)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}")


def parse_script(path: Path) -> tuple[Script | None, list[Problem]]:
    """Parse one file; returns the script (None when unusable) and every problem found."""
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(path, 1, f"not UTF-8 text: {exc.reason}")]
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != SEPARATOR:
        return None, [Problem(path, 1, "missing front matter: line 1 must be exactly '---' followed by YAML and '---'")]
    try:
        close = next(i for i in range(1, len(lines)) if lines[i].rstrip() == SEPARATOR)
    except StopIteration:
        return None, [Problem(path, 1, "front matter is never closed: add a line that is exactly '---' after it")]
    meta = _front_matter(path, lines[1:close], problems)
    if meta is None:
        return None, problems
    segments = _segments(path, lines, close + 1, problems)
    key_line = {k: _key_line(lines, close, k) for k in FRONT_MATTER_KEYS}

    for key in sorted(set(meta) - FRONT_MATTER_KEYS):
        problems.append(Problem(path, _key_line(lines, close, key), f"unknown front-matter key '{key}' "
                                f"(known: {', '.join(sorted(FRONT_MATTER_KEYS))})"))
    if "product_id" not in meta:
        problems.append(Problem(path, 1, "front matter has no 'product_id' (use null for idle lines)"))
    product_id = meta.get("product_id")
    if product_id is not None and not isinstance(product_id, str):
        problems.append(Problem(path, key_line["product_id"], "product_id must be a string or null"))
        product_id = str(product_id)
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem(path, key_line["title"] or 1, "front matter needs a non-empty 'title'"))
        title = path.stem
    hint = meta.get("duration_hint_s")
    if hint is not None and (not isinstance(hint, int) or isinstance(hint, bool) or hint <= 0):
        problems.append(Problem(path, key_line["duration_hint_s"], "duration_hint_s must be a positive integer"))
        hint = None
    schedule = _schedule(path, meta, key_line, problems)
    if not segments and not any(p.line > close for p in problems):
        problems.append(Problem(path, close + 1, "no segments after the front matter"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    script = Script(id=path.stem, path=path, product_id=product_id, title=title.strip(),
                    segments=tuple(segments), schedule=schedule, duration_hint_s=hint,
                    product_id_line=key_line["product_id"] or 1)
    return script, problems


def _front_matter(path: Path, block: list[str], problems: list[Problem]) -> dict | None:
    try:
        meta = yaml.safe_load("\n".join(block))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(path, line, f"front matter is not valid YAML: {reason}"))
        return None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        problems.append(Problem(path, 2, "front matter must be a YAML mapping (key: value lines)"))
        return None
    return meta


def _segments(path: Path, lines: list[str], start: int, problems: list[Problem]) -> list[Segment]:
    segments: list[Segment] = []
    chunk: list[tuple[int, str]] = []

    def close_chunk(separator_line: int) -> None:
        body = [(n, t.strip()) for n, t in chunk if t.strip()]
        chunk.clear()
        if not body:
            if separator_line:
                problems.append(Problem(path, separator_line, "empty segment (two '---' lines in a row)"))
            return
        first_line = body[0][0]
        text = _join_lines([t for _, t in body])
        try:
            template = parse_segment(text)
        except TemplateError as exc:
            column = exc.column if len(body) == 1 else 0
            problems.append(Problem(path, first_line, str(exc), column=column))
            return
        segments.append(Segment(index=len(segments), line=first_line, template=template))

    for i in range(start, len(lines)):
        if lines[i].rstrip() == SEPARATOR:
            close_chunk(i + 1)
        else:
            chunk.append((i + 1, lines[i]))
    close_chunk(0)
    return segments


def _join_lines(lines: list[str]) -> str:
    # A segment wrapped over several lines is one utterance; Chinese needs no space at the joins.
    text = lines[0]
    for line in lines[1:]:
        wide = _WIDE.match(text[-1]) and _WIDE.match(line[0])
        text += ("" if wide else " ") + line
    return text


_WIDE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _key_line(lines: list[str], close: int, key: str) -> int:
    for i in range(1, close):
        if re.match(rf"^{re.escape(key)}\s*:", lines[i]):
            return i + 1
    return 0


def _schedule(path: Path, meta: dict, key_line: dict[str, int], problems: list[Problem]) -> Schedule | None:
    given = [k for k in SCHEDULE_KEYS if meta.get(k) is not None]
    if len(given) > 1:
        problems.append(Problem(path, key_line[given[1]], f"give exactly one of every/cron/at (found {', '.join(given)})"))
        return None
    if not given:
        return None
    kind = given[0]
    raw = meta[kind]
    line = key_line[kind]
    if kind == "every":
        value = str(raw)
        if not EVERY_PATTERN.match(value):
            problems.append(Problem(path, line, f"every: expected '<int>m' (or s/h), e.g. '15m'; got {raw!r}"))
            return None
        if Schedule(kind, value, line).interval_seconds() <= 0:
            problems.append(Problem(path, line, "every: the interval must be positive"))
            return None
    elif kind == "cron":
        from apscheduler.triggers.cron import CronTrigger

        value = str(raw)
        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            problems.append(Problem(path, line, f"cron: not a 5-field crontab expression ({exc})"))
            return None
    else:
        if isinstance(raw, datetime):
            value = raw.isoformat()
        else:
            value = str(raw)
            try:
                datetime.fromisoformat(value)
            except ValueError:
                problems.append(Problem(path, line, f"at: expected an ISO date-time like 2026-12-01T20:00; got {raw!r}"))
                return None
    return Schedule(kind, value, line)


@dataclass
class ScriptLibrary:
    """All scripts of a directory, in file-name order."""

    directory: Path | None
    scripts: dict[str, Script] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def get(self, script_id: str) -> Script | None:
        """The script with this id (file name without .md), or None."""
        return self.scripts.get(script_id)

    def product_scripts(self) -> list[Script]:
        """Scripts about a product, in file-name order."""
        return [s for s in self.scripts.values() if not s.is_idle_pool]

    def idle_pools(self) -> list[Script]:
        """Scripts without a product (idle lines)."""
        return [s for s in self.scripts.values() if s.is_idle_pool]

    def script_for_product(self, product_id: str) -> Script | None:
        """The first script (file-name order) about ``product_id``."""
        return next((s for s in self.product_scripts() if s.product_id == product_id), None)


def read_directory(directory: Path) -> tuple[list[Script], list[Problem]]:
    """Parse every ``*.md`` in ``directory`` (not recursive); returns scripts and all problems."""
    if not directory.is_dir():
        return [], [Problem(directory, 0, "script directory not found")]
    scripts: list[Script] = []
    problems: list[Problem] = []
    files = sorted(p for p in directory.glob("*.md") if p.name.lower() != "readme.md")
    if not files:
        problems.append(Problem(directory, 0, "no *.md script files in this directory"))
    for path in files:
        script, found = parse_script(path)
        problems.extend(found)
        if script is not None:
            scripts.append(script)
    return scripts, problems


def load_library(directory: str | Path | None) -> ScriptLibrary:
    """Load a script directory for the running host; any error raises ScriptLoadError (all file:line)."""
    if not directory:
        return ScriptLibrary(directory=None)
    directory = Path(directory)
    scripts, problems = read_directory(directory)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ScriptLoadError(errors)
    return ScriptLibrary(directory=directory, scripts={s.id: s for s in scripts},
                         warnings=[p for p in problems if p.severity == "warning"])
