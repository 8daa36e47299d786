"""Answers from the knowledge base alone: the best FAQ or product fact, lightly templated, or a deflection."""
from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field

from knowledge.chunking import is_chinese
from knowledge.records import Product
from knowledge.retrieval import Hit, Retriever
from knowledge.text_tokens import STOPWORDS, normalize

log = logging.getLogger(__name__)

# Questions a shop KB never answers well: comparisons, future prices, group discounts that are not in
# the KB, requests for songs/books, the host's own schedule or nature. Deflect instead of guessing.
OFF_TOPIC = [re.compile(p, re.I) for p in [
    r"跟.{0,8}比|比.{0,6}(怎么样|哪个好|好吗)|大牌|竞品|哪个牌子|苹果手表|华为|小米|better than|compared? (to|with)|"
    r"which is better|vs\.?\s|brand",
    r"会不会.{0,4}(更便宜|降价)|以后.{0,4}(降价|便宜)|过几天.{0,6}便宜|price drop|get cheaper|go on sale",
    r"(学生|老人|老年|教师|军人|舰长|粉丝团|会员).{0,4}(优惠|价|折|专属)|student|senior discount|teacher discount",
    r"粉丝团|加入.{0,3}团|fan club",
    r"唱.{0,2}歌|跳.{0,2}舞|讲.{0,2}笑话|推荐.{0,4}书|sing|song|dance|tell .{0,6}joke|recommend .{0,8}book",
    r"几点(下播|开播|下班)|什么时候(下播|开播)|stream (end|start)|when .{0,20}stream|go offline",
    r"真人吗|是机器人|你几岁|你是谁|are you (a )?(real|human|bot|robot)",
]]


# A chat line without any of these is a remark ("刚下单了充电宝"), not a question: acknowledge it.
QUESTION_CUE = re.compile(r"吗|嘛|呢|吧|还是|\?|(.)[不没]\1|多[重大久长高宽厚少]|几[个天次种岁点号块]|怎么|如何|能不能|可不可以|可以.{0,8}吗|是不是|有没有|"
                          r"什么|哪|啥|咋|[不没]$|"
                          # English: a question word opening a sentence ("is" inside "it is great" is not one)
                          r"(^|[.!,;:]\s*)(how|what|which|when|where|why|who|can|could|does|do|did|is|are|will|"
                          r"would|any|should|may)\b", re.I)


@dataclass
class KbAnswer:
    """Sentences to speak; ``answered`` is False for a deflection (or silence)."""

    sentences: list[str]
    answered: bool
    source: str | None = None
    reason: str = ""
    hits: list[Hit] = field(default_factory=list)


class KbResponder:
    """No LLM needed: picks the best chunk above a score threshold and phrases it for speech."""

    def __init__(self, retriever: Retriever, *, min_dense: float = 0.845, unanswerable: str = "deflect",
                 max_chars: int = 60, max_words: int = 40):
        self.retriever = retriever
        self.min_dense = min_dense
        self.unanswerable = unanswerable
        self.max_chars, self.max_words = max_chars, max_words
        self._lead_zh = itertools.cycle(["", "家人们，", "", "好问题，"])
        self._lead_en = itertools.cycle(["", "Good question! ", ""])

    def respond(self, question: str, product_id: str | None = None, hits: list[Hit] | None = None) -> KbAnswer:
        zh = is_chinese(question) or not re.search(r"[A-Za-z]{2,}", question)
        text = normalize(question)
        for pattern in OFF_TOPIC:
            if pattern.search(text):
                return self._deflect(zh, f"off-topic: {pattern.pattern[:30]}")
        if not QUESTION_CUE.search(text):
            # A remark, greeting or ad: nothing to answer from the KB (thanks and greetings are the director's).
            return KbAnswer([], False, None, "not a question")
        hits = hits if hits is not None else self.retriever.search(question, k=3, current_product_id=product_id)
        if not hits:
            return self._deflect(zh, "no knowledge")
        top = hits[0]
        unknown = self.unknown_terms(question)
        has_dense = top.dense > 0
        if has_dense and top.dense < self.min_dense:
            return self._deflect(zh, f"low similarity {top.dense:.3f}", hits)
        named = self.retriever.named_products(question)
        if has_dense and top.lexical < 0.1 and top.dense < 0.9 and top.product_id not in named:
            # Nothing of the question's wording is in the KB and the similarity is only middling:
            # small talk ("主播去喝水了吗") lands near some FAQ by accident.
            return self._deflect(zh, f"no shared terms, similarity {top.dense:.3f}", hits)
        if not has_dense and top.lexical < 0.5:
            return self._deflect(zh, f"low coverage {top.lexical:.2f}", hits)
        if unknown and top.dense < 0.895 and top.lexical < 0.3:
            # The question hinges on something the KB never mentions (气压计, 登山包): do not stretch a neighbour.
            return self._deflect(zh, f"unknown terms {','.join(unknown)}", hits)
        sentences = self._phrase(top, question, zh)
        return KbAnswer(sentences, True, top.source_id, f"kb {top.chunk_id} {top.score:.3f}", hits)

    def unknown_terms(self, question: str) -> list[str]:
        """Content nouns of the question that no chunk contains (after query expansion)."""
        import jieba.posseg as pseg

        from knowledge.query_expansion import EXPANSIONS

        vocab = self.retriever.vocabulary()
        names = {n for n, _ in self.retriever.alias_names()}
        out = []
        for word, flag in pseg.cut(normalize(question)):
            if flag not in ("n", "nz", "eng") or len(word) < 2 or word in STOPWORDS or word in vocab:
                continue
            if word in names or any(p.search(word) for p, _ in EXPANSIONS):
                continue
            if flag == "eng" and (word.rstrip("s") in vocab or len(word) < 4):
                continue
            if flag == "eng":
                continue  # English verbs and nouns are not told apart here; rely on similarity
            if word[0] in "我你他她它能有会要可是了在这那的都也还就":
                continue  # a particle glued to the next word by the tagger ("能扣", "有点")
            out.append(word)
        return out

    def _deflect(self, zh: bool, reason: str, hits: list[Hit] | None = None) -> KbAnswer:
        log.info("KB deflects", extra={"reason": reason})
        if self.unanswerable == "silence":
            return KbAnswer([], False, None, reason, hits or [])
        text = ("这个我这边没有准确的信息，不乱说哈，可以私信官方客服确认一下。" if zh else
                "I don't have reliable information on that, so I won't guess. Please message our official support.")
        return KbAnswer([text], False, None, reason, hits or [])

    def _phrase(self, hit: Hit, question: str, zh: bool) -> list[str]:
        from brain.sentences import split_text

        product = self.retriever.products.get(hit.product_id or "")
        if hit.source_kind == "faq":
            body = hit.text.split("\n", 1)[1] if "\n" in hit.text else hit.text
        elif hit.source_kind == "product" and product is not None:
            body = self._product_sentence(hit, product, question, zh)
        else:
            body = hit.text
        lead = next(self._lead_zh) if zh and is_chinese(body) else (next(self._lead_en) if not zh else "")
        size = len(body) if zh else len(body.split())
        if size + len(lead if zh else lead.split()) > (self.max_chars if zh else self.max_words):
            lead = ""  # a long fact is not made longer
        if hit.source_kind == "faq":
            return split_text(lead + body)  # curated, already spoken-style: never cut
        return self._limit(split_text(lead + body), zh)

    @staticmethod
    def _product_sentence(hit: Hit, p: Product, question: str, zh_question: bool) -> str:
        zh = is_chinese(p.name)
        short = p.aliases[0] if p.aliases else p.name
        unit = ("元" if p.currency == "CNY" else p.currency) if zh else ("dollars" if p.currency == "USD" else p.currency)
        price = lambda v: (str(int(v)) if v is not None and float(v).is_integer() else f"{v:g}")  # noqa: E731
        if hit.chunk_id.endswith("#overview"):
            if zh:
                text = f"{p.name}直播间专享价{price(p.price)}{unit}，日常价{price(p.list_price)}{unit}。"
                if re.search(r"库存|还有货|有货|有吗|还有吗|卖完", question) and p.stock is not None:
                    text += f"现在库存{p.stock}件。"
            else:
                text = f"The {p.name} is {price(p.price)} {unit} in the live room, down from {price(p.list_price)}."
                if re.search(r"stock|left|available|in stock", question, re.I) and p.stock is not None:
                    text += f" We have {p.stock} in stock."
            return text
        if "#spec:" in hit.chunk_id:
            key = hit.chunk_id.split("#spec:", 1)[1]
            value = p.specs.get(key, "")
            return f"{short}的{key}：{value}。" if zh else f"The {short} {key}: {value}."
        points = p.selling_points[:2]
        return ("；".join(points) + "。") if zh else (" ".join(s.rstrip(".") + "." for s in points))

    def _limit(self, sentences: list[str], zh: bool) -> list[str]:
        """Keep whole sentences within the spoken limit (the first one always stays)."""
        out: list[str] = []
        used = 0
        for s in sentences:
            size = len(s) if zh else len(s.split())
            limit = self.max_chars if zh else self.max_words
            if out and used + size > limit:
                break
            out.append(s)
            used += size
        return out
