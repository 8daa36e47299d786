"""Turn products, FAQs and documents into retrievable chunks (stable ids, so re-imports update)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge.records import Document, Faq, Product

_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it has tokens and an embedding."""

    id: str
    source_kind: str
    source_id: str
    product_id: str | None
    title: str
    text: str

    @property
    def content_hash(self) -> str:
        from knowledge.text_tokens import TOKENIZER_VERSION

        return hashlib.sha256(f"{TOKENIZER_VERSION}\n{self.title}\n{self.text}".encode()).hexdigest()


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def product_overview(p: Product) -> str:
    """One spoken-style line with name, prices, stock and promotions (used by chunks and prompts)."""
    zh = is_chinese(p.name)
    aliases = "、".join(p.aliases) if zh else ", ".join(p.aliases)
    promos = ("；" if zh else "; ").join(p.promotions)
    if zh:
        unit = "元" if p.currency == "CNY" else f" {p.currency}"
        text = f"{p.name}（{aliases}）价格：直播间价{_num(p.price)}{unit}，日常价{_num(p.list_price)}{unit}"
        if p.stock is not None:
            text += f"，库存{p.stock}件"
        return text + (f"。优惠：{promos}" if promos else "。")
    unit = "dollars" if p.currency == "USD" else p.currency
    text = f"{p.name} ({aliases}) price: live price {_num(p.price)} {unit}, list price {_num(p.list_price)} {unit}"
    if p.stock is not None:
        text += f", {p.stock} in stock"
    return text + (f". Promotions: {promos}" if promos else ".")


def product_chunks(p: Product) -> list[ChunkDraft]:
    zh = is_chinese(p.name)
    sep = "：" if zh else ": "
    chunks = [ChunkDraft(f"{p.id}#overview", "product", p.id, p.id, p.name, product_overview(p))]
    for key, value in p.specs.items():
        chunks.append(ChunkDraft(f"{p.id}#spec:{key}", "product", p.id, p.id, f"{p.name} {key}",
                                 f"{p.name} {key}{sep}{value}"))
    if p.selling_points:
        joiner = "；" if zh else "; "
        chunks.append(ChunkDraft(f"{p.id}#points", "product", p.id, p.id, p.name,
                                 f"{p.name}{sep}{joiner.join(p.selling_points)}"))
    return chunks


def faq_chunks(f: Faq) -> list[ChunkDraft]:
    # A second, question-only view: paraphrased questions sit closer to the question than to the answer.
    return [ChunkDraft(f.id, "faq", f.id, f.product_id, f.question, f"{f.question}\n{f.answer}"),
            ChunkDraft(f"{f.id}#q", "faq", f.id, f.product_id, "", f.question)]


_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)\s+")


def document_chunks(d: Document, max_chars: int = 160) -> list[ChunkDraft]:
    """Split a document into sentence groups of at most ``max_chars`` (a sentence is never cut)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(d.body) if s and s.strip()]
    groups: list[str] = []
    current = ""
    for sentence in sentences:
        if current and len(current) + len(sentence) > max_chars:
            groups.append(current)
            current = ""
        current = f"{current} {sentence}".strip() if not is_chinese(sentence) else current + sentence
    if current:
        groups.append(current)
    return [ChunkDraft(f"{d.id}#{i}", "document", d.id, d.product_id, d.title, text)
            for i, text in enumerate(groups)]
