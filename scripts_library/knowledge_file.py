"""Products from a knowledge YAML file (fixtures/README.md §1), for `scripts check --knowledge` and demos."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class KnowledgeFileError(Exception):
    """The knowledge file is missing or not in the expected shape (message names the file)."""


def load_products(path: str | Path) -> dict[str, Mapping[str, Any]]:
    """``products[]`` of a knowledge YAML file keyed by id, in file order."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KnowledgeFileError(f"knowledge file not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise KnowledgeFileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("products"), list):
        raise KnowledgeFileError(f"{path}: expected a top-level 'products:' list")
    products: dict[str, Mapping[str, Any]] = {}
    for n, item in enumerate(data["products"]):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise KnowledgeFileError(f"{path}: products[{n}] has no string 'id'")
        products[item["id"]] = item
    return products
