"""`scripts check`: every problem of a script directory as file:line, with product ids and variables checked."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from scripts_library.script_file import Problem, Script, read_directory
from scripts_library.speaking_values import DEFAULT_PRODUCT_FIELDS, RUNTIME_VARIABLES, format_value, product_field

ProductLookup = Callable[[str], Mapping[str, Any] | None]


def speakable_fields(product: Any) -> set[str]:
    """Names of a product's fields that can be spoken (scalars: name, price, stock...)."""
    if isinstance(product, Mapping):
        names = list(product.keys())
    elif dataclasses.is_dataclass(product):
        names = [f.name for f in dataclasses.fields(product)]
    else:
        names = [n for n in vars(product) if not n.startswith("_")]
    return {n for n in names if format_value(product_field(product, n)) is not None}


def check_script(script: Script, product_lookup: ProductLookup | None) -> list[Problem]:
    """Product id and variable problems of one parsed script."""
    problems: list[Problem] = []
    product = None
    if script.product_id is not None and product_lookup is not None:
        product = product_lookup(script.product_id)
        if product is None:
            problems.append(Problem(script.path, script.product_id_line,
                                    f"unknown product id '{script.product_id}' (not in the knowledge base)"))
    product_fields = speakable_fields(product) if product is not None else DEFAULT_PRODUCT_FIELDS
    for segment in script.segments:
        for name in sorted(segment.template.variables):
            if name in RUNTIME_VARIABLES:
                continue
            if name not in product_fields:
                known = ", ".join(sorted(RUNTIME_VARIABLES | product_fields))
                problems.append(Problem(script.path, segment.line, f"unknown variable '{{{name}}}' (known: {known})"))
            elif script.is_idle_pool:
                problems.append(Problem(script.path, segment.line,
                                        f"'{{{name}}}' in a script without product_id: it is read from the current "
                                        "product, and the line is skipped while none is selected", severity="warning"))
    return problems


def check_directory(directory: str | Path, product_lookup: ProductLookup | None = None) -> list[Problem]:
    """All problems of ``directory`` (syntax, front matter, product ids, variables), in file order."""
    scripts, problems = read_directory(Path(directory))
    seen: dict[str, Script] = {}
    for script in scripts:
        problems.extend(check_script(script, product_lookup))
        if script.product_id and script.product_id in seen:
            problems.append(Problem(script.path, script.product_id_line,
                                    f"product '{script.product_id}' also has {seen[script.product_id].path.name}; "
                                    "/product and the carousel use the first file", severity="warning"))
        elif script.product_id:
            seen[script.product_id] = script
    problems.sort(key=lambda p: (str(p.path), p.line))
    return problems
