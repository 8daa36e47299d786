"""The Moderator: one verdict (allowed, reason, clean text) per incoming message or outgoing sentence."""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danmaku.moderation.banned_words import DEFAULT_LIST, BannedWord, WordMatcher, load_banned_words
from danmaku.moderation.contacts import find_contact, remove_contacts
from danmaku.moderation.text_keys import display_clean, make_keys

if TYPE_CHECKING:
    from danmaku.settings import ModerationSettings

log = logging.getLogger(__name__)
MAX_TRACKED_USERS = 20_000  # per-user state is an LRU of this size: memory stays bounded in a flood
SENTENCE_ENDS = "。！？!?；;…\n"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on one text; ``reason`` is ``ok``/``truncated`` when allowed, the refusal otherwise."""

    text: str
    allowed: bool
    reason: str
    clean_text: str
    uid: int = 0
    detail: str = ""  # what matched (kept out of the CLI output and of anything spoken)

    def to_json(self) -> dict:
        """The four public fields: {"text", "allowed", "reason", "clean_text"}."""
        return {"text": self.text, "allowed": self.allowed, "reason": self.reason, "clean_text": self.clean_text}


class Moderator:
    """Banned words, ads/contacts, length, control characters, rate limits, duplicates, spam and mutes.

    ``check(text, uid)`` is for incoming chat; ``check_outgoing(text)`` guards what the host says
    (same word lists plus the outgoing-only ones, no rate/duplicate checks). Thread-safe.
    """

    def __init__(self, banned_files: list[str | Path] | None = None, use_default_list: bool = True,
                 max_chars: int = 300, hard_max_chars: int = 2000, rate_limit_count: int = 6,
                 rate_limit_window_s: float = 20.0, duplicate_window_s: float = 60.0, homophones: bool = True,
                 log_file: str | Path | None = None, clock: Callable[[], float] = time.time,
                 auto_reload_s: float = 0.0) -> None:
        self.banned_files = [Path(p) for p in (banned_files or [])]
        self.use_default_list = use_default_list
        self.max_chars = max_chars
        self.hard_max_chars = hard_max_chars
        self.rate_limit_count = rate_limit_count
        self.rate_limit_window_s = rate_limit_window_s
        self.duplicate_window_s = duplicate_window_s
        self.homophones = homophones
        self.log_file = Path(log_file) if log_file else None
        self.clock = clock
        self.auto_reload_s = auto_reload_s
        self._next_mtime_check = time.monotonic() + auto_reload_s
        self._mtimes: dict[Path, float] = {}
        self.counts: collections.Counter = collections.Counter()
        self.on_verdict: list[Callable[[Verdict], Any]] = []  # hook for the knowledge store's moderation log
        self._lock = threading.RLock()
        self._extra_words: dict[str, BannedWord] = {}  # /ban at run time
        self._unbanned: set[str] = set()  # /unban of a word that comes from a file
        self._muted: dict[int, float] = {}  # uid -> wall-clock expiry (inf = until unmuted)
        self._recent: collections.OrderedDict[int, collections.deque] = collections.OrderedDict()
        self._last_texts: collections.OrderedDict[int, dict[str, float]] = collections.OrderedDict()
        self._matcher = WordMatcher([], homophones)
        self.reload()

    @classmethod
    def from_settings(cls, settings: "ModerationSettings", **overrides: Any) -> "Moderator":
        """Build from ``[chat.moderation]``."""
        kwargs = dict(banned_files=settings.banned_words_files, use_default_list=settings.use_default_list,
                      max_chars=settings.max_chars, hard_max_chars=settings.hard_max_chars,
                      rate_limit_count=settings.rate_limit_count, rate_limit_window_s=settings.rate_limit_window_s,
                      duplicate_window_s=settings.duplicate_window_s, homophones=settings.homophones,
                      log_file=settings.log_file or None, auto_reload_s=settings.auto_reload_s)
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- word lists --------------------------------------------------------------------------------
    def reload(self) -> int:
        """Re-read the list files (a bad file raises and keeps the old lists); returns the word count."""
        words: list[BannedWord] = []
        if self.use_default_list:
            words += load_banned_words(DEFAULT_LIST)
        for path in self.banned_files:
            words += load_banned_words(path)
        with self._lock:
            words = [w for w in words if w.key not in self._unbanned] + list(self._extra_words.values())
            self._matcher = WordMatcher(words, self.homophones)
            self._mtimes = self._current_mtimes()
        log.info("banned words loaded", extra={"words": len(words), "files": len(self.banned_files) + self.use_default_list})
        return len(words)

    def _current_mtimes(self) -> dict[Path, float]:
        out = {}
        for path in self.banned_files:
            try:
                out[path] = path.stat().st_mtime
            except OSError:
                out[path] = -1.0
        return out

    def _maybe_auto_reload(self) -> None:
        """Re-read the list files when one changed on disk (a bad edit is logged; the old lists stay)."""
        if not self.auto_reload_s or not self.banned_files:
            return
        now = time.monotonic()
        if now < self._next_mtime_check:
            return
        self._next_mtime_check = now + self.auto_reload_s
        current = self._current_mtimes()
        if current == self._mtimes:
            return
        try:
            self.reload()
        except Exception as exc:
            self._mtimes = current  # report a broken file once, not on every check
            log.error("banned-words reload failed; keeping the previous lists", extra={"error": str(exc)})

    def ban(self, word: str, category: str = "admin") -> None:
        """Add a word at run time (survives reload)."""
        entry = BannedWord.build(word, category)
        if not entry.key:
            raise ValueError("a banned word needs letters or digits")
        with self._lock:
            self._unbanned.discard(entry.key)
            self._extra_words[entry.key] = entry
            self._matcher = WordMatcher([w for w in self._matcher.words if w.key != entry.key] + [entry], self.homophones)

    def unban(self, word: str) -> bool:
        """Remove a word (from the run-time list or, until restart, from the files); False if unknown."""
        key = make_keys(word).whole
        with self._lock:
            known = any(w.key == key for w in self._matcher.words)
            self._extra_words.pop(key, None)
            self._unbanned.add(key)
            self._matcher = WordMatcher([w for w in self._matcher.words if w.key != key], self.homophones)
        return known

    # -- mutes ------------------------------------------------------------------------------------
    def mute(self, uid: int, minutes: float | None = None) -> float:
        """Ignore ``uid`` for ``minutes`` (None = until unmuted); returns the wall-clock expiry."""
        until = float("inf") if minutes is None else time.time() + minutes * 60.0
        with self._lock:
            self._muted[uid] = until
        return until

    def unmute(self, uid: int) -> bool:
        """Lift a mute; False if the user was not muted."""
        with self._lock:
            return self._muted.pop(uid, None) is not None

    def is_muted(self, uid: int) -> bool:
        """Is ``uid`` muted right now (expired mutes are dropped here)?"""
        with self._lock:
            until = self._muted.get(uid)
            if until is None:
                return False
            if time.time() >= until:
                del self._muted[uid]
                return False
            return True

    @property
    def muted(self) -> dict[int, float]:
        """uid -> wall-clock expiry of every mute (inf = until unmuted)."""
        with self._lock:
            return dict(self._muted)

    # -- verdicts ---------------------------------------------------------------------------------
    def check(self, text: Any, uid: int = 0, at: float | None = None, limits: bool = True) -> Verdict:
        """Verdict for one incoming message from ``uid``.

        ``limits=False`` skips the rate limit and duplicate checks (a paid super chat is never "too many").
        ``at`` is the event's own unix time (rate and duplicate windows then follow the room's clock,
        so an accelerated replay is judged as it happened); default: now.
        """
        self._maybe_auto_reload()
        if not isinstance(text, str):
            return self._done(Verdict(str(text)[:200], False, "malformed", "", uid))
        if uid > 0 and self.is_muted(uid):
            return self._done(Verdict(text, False, "muted", "", uid))
        if len(text) > self.hard_max_chars:
            return self._done(Verdict(text, False, "too_long", "", uid, f"{len(text)} chars"))
        clean = display_clean(text)
        if not clean:
            return self._done(Verdict(text, False, "empty", "", uid))
        keys = make_keys(text)
        refusal = self._content(text, keys, "incoming")
        if refusal:
            reason, detail = refusal
            self._remember(uid, keys.whole, at)
            return self._done(Verdict(text, False, reason, "", uid, detail))
        if _is_spam_repetition(keys.whole):
            return self._done(Verdict(text, False, "spam", "", uid, "repetition"))
        if uid and limits:
            limited = self._rate_and_duplicate(uid, keys.whole or clean, at)
            if limited:
                return self._done(Verdict(text, False, limited, "", uid))
        if len(clean) > self.max_chars:
            return self._done(Verdict(text, True, "truncated", truncate(clean, self.max_chars), uid))
        return self._done(Verdict(text, True, "ok", clean, uid))

    def check_outgoing(self, text: str) -> Verdict:
        """Verdict for what the host is about to say (no rate limits or duplicate checks)."""
        self._maybe_auto_reload()
        clean = display_clean(text)
        keys = make_keys(text)
        refusal = self._content(text, keys, "outgoing")
        if refusal:
            reason, detail = refusal
            cleaned = remove_contacts(clean) if reason.startswith("contact:") else ""
            return self._done(Verdict(text, False, reason, cleaned, 0, detail), outgoing=True)
        return self._done(Verdict(text, True, "ok", clean, 0), outgoing=True)

    def _content(self, text: str, keys: Any, scope: str) -> tuple[str, str] | None:
        contact = find_contact(text)
        if contact:
            return f"contact:{contact[0]}", contact[1]
        with self._lock:
            matcher = self._matcher
        found = matcher.find(keys, scope)
        if found:
            return f"banned:{found.entry.category}", f"{found.how}:{found.entry.word}"
        return None

    def _rate_and_duplicate(self, uid: int, key: str, at: float | None) -> str | None:
        now = self.clock() if at is None else at
        with self._lock:
            texts = self._last_texts.get(uid)
            if texts is not None:
                self._last_texts.move_to_end(uid)
                last = texts.get(key)
                if last is not None and now - last < self.duplicate_window_s:
                    texts[key] = now
                    return "duplicate"
            recent = self._recent.get(uid)
            if recent is None:
                recent = self._recent[uid] = collections.deque(maxlen=self.rate_limit_count)
                _trim(self._recent)
            else:
                self._recent.move_to_end(uid)
            if len(recent) >= self.rate_limit_count and now - recent[0] < self.rate_limit_window_s:
                return "rate_limited"
            recent.append(now)
            self._remember(uid, key, now)
        return None

    def _remember(self, uid: int, key: str, now: float | None = None) -> None:
        if not uid:
            return
        now = self.clock() if now is None else now
        with self._lock:
            texts = self._last_texts.get(uid)
            if texts is None:
                texts = self._last_texts[uid] = {}
                _trim(self._last_texts)
            texts[key] = now
            if len(texts) > 8:  # only the last few texts of a user matter for duplicates
                for old in sorted(texts, key=texts.get)[: len(texts) - 8]:
                    del texts[old]

    def _done(self, verdict: Verdict, outgoing: bool = False) -> Verdict:
        self.counts[("out:" if outgoing else "") + verdict.reason] += 1
        # Per-verdict lines are DEBUG (quiet by default: a spam wave would flood INFO); refusals also go to
        # log_file and to the on_verdict hooks (the knowledge store's moderation log), and ``counts`` feeds /status.
        log.debug("moderation", extra={"allowed": verdict.allowed, "reason": verdict.reason, "uid": verdict.uid,
                                       "direction": "out" if outgoing else "in", "detail": verdict.detail[:80]})
        if not verdict.allowed and self.log_file:
            self._append_log(verdict, outgoing)
        for hook in self.on_verdict:
            try:
                hook(verdict)
            except Exception:
                log.exception("moderation hook failed")
        return verdict

    def _append_log(self, verdict: Verdict, outgoing: bool) -> None:
        record = {"ts": time.time(), "direction": "out" if outgoing else "in", **asdict(verdict)}
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.log_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning("moderation log not written", extra={"file": str(self.log_file), "error": str(exc)})


def _trim(mapping: collections.OrderedDict) -> None:
    while len(mapping) > MAX_TRACKED_USERS:
        mapping.popitem(last=False)


def _is_spam_repetition(key: str) -> bool:
    """Long runs of one or two characters (哈哈哈... x40, 'aaaaaaaa...') are floods, not messages."""
    return len(key) >= 30 and len(set(key)) <= 2


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, at the last sentence end in the second half when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind(c) for c in SENTENCE_ENDS)
    if cut >= limit // 2:
        return head[: cut + 1].strip()
    return head.rstrip() + "…"
