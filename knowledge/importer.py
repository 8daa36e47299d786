"""Parse knowledge files (YAML as in the sample shops, Markdown, CSV) into one validated bundle.

Parsing is separate from writing: every file of a run is parsed and checked first, so a bad file
aborts the run before the store is touched (the store then writes the bundle in one transaction).
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from knowledge.records import Document, Faq, Product

SUFFIXES = {".yaml", ".yml", ".md", ".markdown", ".csv"}


class ImportFileError(Exception):
    """A problem in one input file; the message is ``file:line: what``."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductIn(_Model):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    aliases: list[str] = []
    price: float | None = Field(None, ge=0)
    list_price: float | None = Field(None, ge=0)
    stock: int | None = Field(None, ge=0)
    specs: dict[str, str] = {}
    selling_points: list[str] = []
    promotions: list[str] = []
    tags: list[str] = []

    @field_validator("specs", mode="before")
    @classmethod
    def _spec_values_as_text(cls, v: Any) -> Any:
        # YAML turns "5ATM" into text but "120" into an int; specs are free text either way.
        if isinstance(v, dict):
            return {str(k): (str(val) if isinstance(val, (int, float)) else val) for k, val in v.items()}
        return v


class FaqIn(_Model):
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    product_id: str | None = None
    tags: list[str] = []


class ShopFile(_Model):
    """Top level of a knowledge YAML file; every section is optional so partial files import."""

    model_config = ConfigDict(extra="forbid")
    store: dict[str, Any] | None = None
    products: list[ProductIn] = []
    faqs: list[FaqIn] = []
    policies: dict[str, str] = {}
    documents: list[dict[str, str]] = []


@dataclass
class KnowledgeBundle:
    """Everything parsed in one import run, keyed by id (later files override earlier ones)."""

    store_profile: dict[str, Any] | None = None
    products: dict[str, Product] = field(default_factory=dict)
    faqs: dict[str, Faq] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # id -> "file:line"
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"products": len(self.products), "faqs": len(self.faqs), "documents": len(self.documents)}


def collect_files(paths: list[str | Path]) -> list[Path]:
    """Expand folders (recursively, sorted) into the knowledge files they hold."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise ImportFileError(path, None, "no such file or folder")
    return files


def parse_paths(paths: list[str | Path], currency: str | None = None, progress: bool = False) -> KnowledgeBundle:
    """Parse all files under ``paths`` into one bundle; raises ImportFileError on the first bad file."""
    bundle = KnowledgeBundle()
    files = collect_files(paths)
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="parse", unit="file", leave=False)
    for path in iterator:
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            _parse_yaml(path, bundle, currency)
        elif suffix == ".csv":
            _parse_csv(path, bundle, currency)
        else:
            _parse_markdown(path, bundle)
        bundle.files.append(str(path))
    return bundle


# ---------------------------------------------------------------- YAML


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _node_line(node: yaml.Node | None, loc: tuple) -> int | None:
    """Line (1-based) of the YAML node at a pydantic error location, as deep as the path goes."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _loc_text(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse_yaml(path: Path, bundle: KnowledgeBundle, currency: str | None) -> None:
    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ImportFileError(path, line, f"invalid YAML: {exc.problem or exc.context}") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ImportFileError(path, 1, "expected a mapping with store/products/faqs/policies at the top")
    try:
        shop = ShopFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        raise ImportFileError(path, _node_line(node, loc), f"{_loc_text(loc)}: {err['msg']}") from None
    shop_currency = (shop.store or {}).get("currency") or currency or "CNY"
    if shop.store is not None:
        bundle.store_profile = shop.store
    for i, p in enumerate(shop.products):
        _add(bundle, bundle.products, p.id, Product(currency=shop_currency, **p.model_dump()),
             path, _node_line(node, ("products", i)))
    for i, f in enumerate(shop.faqs):
        _add(bundle, bundle.faqs, f.id, Faq(**f.model_dump()), path, _node_line(node, ("faqs", i)))
    for key, body in shop.policies.items():
        doc_id = f"policy:{key}"
        _add(bundle, bundle.documents, doc_id, Document(doc_id, "policy", key, body.strip()),
             path, _node_line(node, ("policies", key)))
    for i, d in enumerate(shop.documents):
        line = _node_line(node, ("documents", i))
        if not d.get("id") or not d.get("body"):
            raise ImportFileError(path, line, f"documents[{i}]: needs 'id' and 'body'")
        _add(bundle, bundle.documents, d["id"], Document(d["id"], "document", d.get("title", ""), d["body"],
                                                         d.get("product_id")), path, line)


def _add(bundle: KnowledgeBundle, table: dict, key: str, value: Any, path: Path, line: int | None) -> None:
    where = f"{path}:{line}" if line else str(path)
    previous = bundle.sources.get(key)
    if key in table and previous and previous.rsplit(":", 1)[0] == str(path):
        raise ImportFileError(path, line, f"duplicate id '{key}' (first at line {previous.rsplit(':', 1)[1]})")
    table[key] = value
    bundle.sources[key] = where


# ---------------------------------------------------------------- CSV


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[|;；]", value or "") if v.strip()]


def _parse_csv(path: Path, bundle: KnowledgeBundle, currency: str | None) -> None:
    """CSV with a header: FAQ rows (question,answer[,id,product_id,tags]) or product rows (id,name,price,...)."""
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ImportFileError(path, 1, f"invalid CSV header: {exc}") from None
    reader.fieldnames = header
    cols = set(header)
    if {"question", "answer"} <= cols:
        kind = "faq"
    elif {"id", "name"} <= cols:
        kind = "product"
    else:
        raise ImportFileError(path, 1, "CSV header must have question,answer (FAQs) or id,name (products); "
                                       f"got {','.join(header) or 'nothing'}")
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ImportFileError(path, line, f"{len(header) + len(row[None])} fields, header has {len(header)}")
            row = {k: (v or "").strip() for k, v in row.items()}
            if not any(row.values()):
                continue
            try:
                if kind == "faq":
                    fid = row.get("id") or "faq-" + hashlib.sha1(row["question"].encode()).hexdigest()[:10]
                    item = FaqIn(id=fid, question=row["question"], answer=row["answer"],
                                 product_id=row.get("product_id") or None, tags=_split_list(row.get("tags", "")))
                    _add(bundle, bundle.faqs, item.id, Faq(**item.model_dump()), path, line)
                else:
                    specs = {}
                    for pair in _split_list(row.get("specs", "")):
                        key, sep, value = pair.partition(":") if ":" in pair else pair.partition("：")
                        if not sep:
                            raise ImportFileError(path, line, f"specs entry '{pair}' is not 'name: value'")
                        specs[key.strip()] = value.strip()
                    item = ProductIn(
                        id=row["id"], name=row["name"], aliases=_split_list(row.get("aliases", "")),
                        price=row.get("price") or None, list_price=row.get("list_price") or None,
                        stock=row.get("stock") or None, specs=specs,
                        selling_points=_split_list(row.get("selling_points", "")),
                        promotions=_split_list(row.get("promotions", "")), tags=_split_list(row.get("tags", "")))
                    _add(bundle, bundle.products, item.id,
                         Product(currency=row.get("currency") or currency or "CNY", **item.model_dump()), path, line)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ImportFileError(path, line, f"column {_loc_text(err['loc'])}: {err['msg']}") from None
    except csv.Error as exc:
        raise ImportFileError(path, reader.line_num, f"invalid CSV: {exc}") from None


# ---------------------------------------------------------------- Markdown

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.M)
_MD_NOISE = re.compile(r"(\*\*|__|`|^\s*[-*+]\s+|^\s*\d+\.\s+|!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\))", re.M)


def _parse_markdown(path: Path, bundle: KnowledgeBundle) -> None:
    """A Markdown document: one document per heading section; optional front matter (id, title, product_id)."""
    text = _read_text(path)
    meta: dict[str, Any] = {}
    front = _FRONT.match(text)
    body_line = 1
    if front:
        try:
            meta = yaml.safe_load(front.group(1)) or {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            raise ImportFileError(path, (mark.line + 2) if mark else 1, f"invalid front matter: {exc.problem}") from None
        if not isinstance(meta, dict):
            raise ImportFileError(path, 2, "front matter must be a mapping")
        if "every" in meta or "cron" in meta:
            # A host script (scripts_library/ owns those), not knowledge: leave it alone.
            bundle.skipped.append(str(path))
            return
        body_line = text[: front.end()].count("\n") + 1
        text = text[front.end():]
    base_id = str(meta.get("id") or f"doc:{path.stem}")
    product_id = meta.get("product_id")
    title = str(meta.get("title") or "")
    sections: list[tuple[str, int, str]] = []
    last_end, last_title, last_line = 0, title, body_line
    for m in _HEADING.finditer(text):
        sections.append((last_title, last_line, text[last_end:m.start()]))
        last_title = m.group(2).strip()
        last_line = body_line + text[: m.start()].count("\n")
        last_end = m.end()
    sections.append((last_title, last_line, text[last_end:]))
    n = 0
    for sec_title, line, body in sections:
        clean = _MD_NOISE.sub(lambda mm: mm.group(2) or "", body)
        clean = re.sub(r"\s*\n\s*", "\n", clean).strip()
        if not clean:
            continue
        doc_id = base_id if n == 0 else f"{base_id}/{n}"
        n += 1
        _add(bundle, bundle.documents, doc_id,
             Document(doc_id, "document", sec_title or path.stem, clean, product_id), path, line)
