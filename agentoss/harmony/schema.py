"""Normalise a JSON Schema so openai-harmony renders it without silently degrading it.

openai-harmony turns `$ref` and `anyOf` into `any`, renders `additionalProperties` as `{}`, drops
`minimum` / `maximum` / `pattern` / `format` and the like, ignores `enum` next to a type list, and
breaks multi-line property descriptions. `normalize_schema` rewrites a schema into the subset harmony
renders faithfully: `$ref` is inlined, `anyOf` / `oneOf` of simple types become a type list,
`Optional[X]` becomes `X` (optional-ness is carried by `required` and the default), constraints are
folded into the description, and everything that still cannot be represented is reported in
`warnings` rather than dropped without a word.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NormalizedSchema", "normalize_schema"]

_SIMPLE_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})
_CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)
_DROPPED_QUIETLY = frozenset({"title", "$schema", "$id", "$defs", "definitions", "examples", "$comment"})
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class NormalizedSchema:
    """A schema harmony can render faithfully, and what could not be represented."""

    schema: dict[str, Any]
    warnings: tuple[str, ...] = ()


def normalize_schema(schema: Mapping[str, Any]) -> NormalizedSchema:
    """Rewrite `schema` for rendering; never raises on odd input, reports what it could not keep."""
    normalizer = _Normalizer(schema)
    result = normalizer.node(schema, "$", 0, frozenset())
    return NormalizedSchema(schema=result, warnings=tuple(normalizer.warnings))


class _Normalizer:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.warnings: list[str] = []

    def warn(self, path: str, text: str) -> None:
        self.warnings.append(f"{path}: {text}")

    def resolve(self, ref: str, path: str) -> Mapping[str, Any] | None:
        if not ref.startswith("#/"):
            self.warn(path, f"external $ref {ref!r} cannot be inlined; rendered as any")
            return None
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                self.warn(path, f"$ref {ref!r} does not resolve; rendered as any")
                return None
            node = node[part]
        return node if isinstance(node, Mapping) else None

    def node(self, schema: Any, path: str, depth: int, refs: frozenset[str]) -> dict[str, Any]:
        if not isinstance(schema, Mapping):
            if schema is not True:
                self.warn(path, f"schema {schema!r} is not an object; rendered as any")
            return {}
        if depth > _MAX_DEPTH:
            self.warn(path, "schema nested too deeply; rendered as any")
            return {}
        out: dict[str, Any] = dict(schema)
        ref = out.pop("$ref", None)
        if isinstance(ref, str):
            if ref in refs:
                self.warn(path, f"recursive $ref {ref!r} rendered as object")
                target: Mapping[str, Any] | None = {"type": "object"}
            else:
                target = self.resolve(ref, path)
                refs = refs | {ref}
            if target is not None:
                # Sibling keywords (a description next to the $ref) win over the target's.
                out = {**self.node(target, path, depth + 1, refs), **out}
        for key in ("allOf",):
            members = out.pop(key, None)
            if isinstance(members, list):
                for member in members:
                    resolved = self.node(member, path, depth + 1, refs)
                    out = {**resolved, **out} if isinstance(resolved, dict) else out
                if len(members) > 1:
                    self.warn(path, "allOf merged into one schema")
        for key in ("anyOf", "oneOf"):
            members = out.pop(key, None)
            if isinstance(members, list):
                out = self.union(out, [self.node(m, path, depth + 1, refs) for m in members], path)
        if "const" in out:
            out["enum"] = [out.pop("const")]
        for key in _DROPPED_QUIETLY:
            out.pop(key, None)
        self.fold_constraints(out)
        if isinstance(out.get("description"), str) and "\n" in out["description"] and path != "$":
            out["description"] = " ".join(out["description"].split())
        types = out.get("type")
        if isinstance(types, list) and isinstance(out.get("enum"), list):
            non_null = [t for t in types if t != "null"]
            if len(non_null) == 1:
                out["type"] = non_null[0]
                out["enum"] = [v for v in out["enum"] if v is not None]
            else:
                self.warn(path, "enum next to a type list is not rendered")
        properties = out.get("properties")
        if isinstance(properties, Mapping):
            out["properties"] = {
                name: self.node(sub, f"{path}.{name}", depth + 1, refs) for name, sub in properties.items()
            }
        if "items" in out:
            out["items"] = self.node(out["items"], f"{path}[]", depth + 1, refs)
        extra = out.get("additionalProperties")
        if isinstance(extra, Mapping):
            value = self.node(extra, f"{path}{{}}", depth + 1, refs)
            out.pop("additionalProperties")
            self.describe(out, f"map of string to {_short(value)}")
            if not isinstance(properties, Mapping):
                self.warn(path, "additionalProperties shown only in the description")
        return out

    def union(self, base: dict[str, Any], members: list[dict[str, Any]], path: str) -> dict[str, Any]:
        non_null = [m for m in members if m.get("type") != "null"]
        nullable = len(non_null) < len(members)
        if all(_is_simple(m) for m in members):
            types: list[str] = []
            for member in members:
                for t in _types(member):
                    if t not in types:
                        types.append(t)
            merged = {**base, "type": types[0] if len(types) == 1 else types}
            descriptions = [m["description"] for m in members if isinstance(m.get("description"), str)]
            if descriptions and "description" not in base:
                merged["description"] = "; ".join(descriptions)
            return merged
        if len(non_null) == 1:
            # Optional[X]: optional-ness is carried by `required` and the default.
            merged = {**non_null[0], **base}
            if nullable and "default" not in merged:
                self.describe(merged, "may be null")
            return merged
        # Complex unions: harmony renders `oneOf` as a TypeScript union, but not a null member.
        if nullable:
            self.describe(base, "may be null")
        return {**base, "oneOf": non_null}

    @staticmethod
    def describe(out: dict[str, Any], note: str) -> None:
        description = out.get("description")
        out["description"] = f"{description} ({note})" if description else note

    def fold_constraints(self, out: dict[str, Any]) -> None:
        notes = [f"{key}: {json.dumps(out.pop(key))}" for key in _CONSTRAINTS if key in out]
        if notes:
            self.describe(out, ", ".join(notes))


def _types(member: Mapping[str, Any]) -> list[str]:
    value = member.get("type")
    return [str(t) for t in value] if isinstance(value, list) else [str(value)]


def _is_simple(member: Mapping[str, Any]) -> bool:
    types = member.get("type")
    names = types if isinstance(types, list) else [types]
    keys = set(member) - {"type", "description", "default"}
    return bool(names) and all(isinstance(t, str) and t in _SIMPLE_TYPES for t in names) and not keys


def _short(schema: Mapping[str, Any]) -> str:
    types = schema.get("type")
    if isinstance(types, list):
        return " | ".join(str(t) for t in types)
    return str(types) if types else "any"
