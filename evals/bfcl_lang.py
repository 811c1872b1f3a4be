"""BFCL's Java and JavaScript categories: how their functions are declared and how their values are written.

BFCL asks for Java / JavaScript calls with every argument written as source text in that language
(`"42L"`, `"new ArrayList<>(Arrays.asList(\\"a\\"))"`, `"{key: 'v'}"`) and its AST checker converts
that text back (`bfcl_eval.eval_checker.ast_eval.type_convertor`) before comparing with the ground
truth. For function-calling models BFCL rewrites each top-level parameter to a JSON `string` whose
description names the language type, drops the element / property schema of collections into the
description, and appends a language hint to the function's description; `declare` does the same.
`literal` writes a ground-truth value as the source text BFCL's converter reads back (the oracle).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

__all__ = ["CATEGORY_LANGUAGES", "Language", "declare", "literal", "representable"]

Language = Literal["python", "java", "javascript"]
CATEGORY_LANGUAGES: dict[str, Language] = {"simple_java": "java", "simple_javascript": "javascript"}
"""Our category name -> the language BFCL's checker is run with (every other category: python)."""
_HINTS: dict[str, str] = {
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}
_NAMES = {"java": "Java", "javascript": "JavaScript"}
_LISTS = {"java": ("Array", "ArrayList"), "javascript": ("array",)}
_JAVA_INTEGERS = ("byte", "short", "integer")


def declare(function: Mapping[str, Any], language: Language) -> dict[str, Any]:
    """The function doc as BFCL shows it to a function-calling model for `language` (a new dict)."""
    out = copy.deepcopy(dict(function))
    if language == "python":
        return out
    name = _NAMES[language]
    out["description"] = out.get("description", "") + _HINTS[language]
    properties = out.get("parameters", {}).get("properties", {})
    for param in properties.values():
        kind = param.get("type", "any")
        text = param.get("description", "")
        if kind == "any":
            text += f" This parameter can be of any type of {name} object in string representation."
        else:
            text += f" This is {name} {kind} type parameter in string representation."
        if kind in _LISTS[language] and "items" in param:
            element = param.pop("items").get("type", "any")
            text += f" The list elements are of type {element}; they are not in string representation."
        if language == "javascript" and kind == "dict" and "properties" in param:
            text += (
                " The dictionary entries have the following schema; they are not in string "
                f"representation. {json.dumps(param.pop('properties'))}"
            )
        param["description"] = text
        param["type"] = "string"
    return out


def representable(value: Any, kind: str, element: str | None, language: Language) -> bool:
    """Whether BFCL's converter can read any source text back as `value` (some ground truth it cannot)."""
    if isinstance(value, str):
        return True
    if language == "java" and kind in ("Array", "ArrayList") and element in ("any", "String", "char"):
        # Elements of these types are read back as text, so a non-text element never matches.
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return kind not in ("any", "String", "char")


def literal(value: Any, kind: str, element: str | None, language: Language) -> str:
    """`value` written as `language` source text that BFCL's converter for `kind` reads back as `value`.

    A string ground truth for a non-string type is a variable name and is written as is.
    """
    if isinstance(value, str):
        return value if language == "java" or kind != "String" else json.dumps(value)
    if language == "java":
        return _java(value, kind, element)
    return _js(value, kind)


def _java(value: Any, kind: str, element: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "long":
        return f"{int(value)}L"
    if kind == "float":
        return f"{_number(value)}f"
    if kind == "double":
        return _number(value)
    if kind in _JAVA_INTEGERS:
        return str(int(value))
    if kind == "Array":
        items = ", ".join(_java_item(v, element) for v in value)
        return f"new {_JAVA_ARRAY_TYPES.get(element or '', 'Object')}[]{{{items}}}"
    if kind == "ArrayList":
        items = ", ".join(json.dumps(v) if element == "String" else _java_item(v, element) for v in value)
        return f"new ArrayList<>(Arrays.asList({items}))"
    if kind == "HashMap":
        puts = " ".join(f"put({json.dumps(k)}, {_java_value(v)});" for k, v in value.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    return str(value)


_JAVA_ARRAY_TYPES = {"String": "String", "integer": "int", "long": "long", "double": "double", "char": "char"}


def _java_item(value: Any, element: str | None) -> str:
    """An element of a typed Java collection (read back with the element type's converter)."""
    if element and element not in ("String", "any", "char"):
        return _java(value, element, None)
    return str(value)


def _java_value(value: Any) -> str:
    """An untyped Java value (a HashMap entry), read back by its own syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{_number(value)}f"
    return str(value)


def _js(value: Any, kind: str) -> str:
    if kind == "Bigint":
        return f"{int(value)}n"
    if kind == "float":
        return _number(value)
    return _js_value(value)


def _js_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list):
        return "[" + ", ".join(_js_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_js_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _number(value: float) -> str:
    """A decimal without exponent (BFCL's float patterns accept `12`, `12.5`, not `1e-05`)."""
    number = float(value)
    if math.isfinite(number) and number == int(number):
        return str(int(number)) if abs(number) >= 1e16 else f"{number:.1f}"
    return format(Decimal(repr(number)), "f")
