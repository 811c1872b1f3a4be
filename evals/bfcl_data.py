"""BFCL data and checkers from the installed `bfcl-eval` package (questions, ground truth, function docs).

`bfcl-eval`'s AST checker imports its model table, which imports every provider SDK. The checker only
asks that table whether a model renamed dotted functions; `load_checkers` installs a small stand-in
table first (answering "no": agentoss maps dotted names itself), so no SDK is needed.
"""

from __future__ import annotations

import functools
import json
import sys
import types
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from agentoss.errors import EvalError

__all__ = [
    "MULTI_TURN_CATEGORIES",
    "SINGLE_TURN_CATEGORIES",
    "data_dir",
    "load_checkers",
    "load_entries",
    "to_json_schema",
]

SINGLE_TURN_CATEGORIES: dict[str, str] = {
    "simple": "simple_python",
    "simple_java": "simple_java",
    "simple_javascript": "simple_javascript",
    "multiple": "multiple",
    "parallel": "parallel",
    "parallel_multiple": "parallel_multiple",
    "irrelevance": "irrelevance",
    "live_simple": "live_simple",
    "live_multiple": "live_multiple",
    "live_parallel": "live_parallel",
    "live_parallel_multiple": "live_parallel_multiple",
    "live_irrelevance": "live_irrelevance",
    "live_relevance": "live_relevance",
}
"""Our category name -> BFCL v4 file stem."""
MULTI_TURN_CATEGORIES: dict[str, str] = {
    name: name
    for name in (
        "multi_turn_base",
        "multi_turn_miss_func",
        "multi_turn_miss_param",
        "multi_turn_long_context",
    )
}
_VERSION = "BFCL_v4"
_TYPES = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "double": "number",
    "number": "number",
    "integer": "integer",
    "int": "integer",
    "long": "integer",
    "string": "string",
    "str": "string",
    "char": "string",
    "any": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
    "ArrayList": "array",
    "Array": "array",
    "byte": "integer",
    "short": "integer",
    "Bigint": "integer",
    "String": "string",
    "Any": "string",
    "HashMap": "object",
    "Hashtable": "object",
    "Queue": "array",
    "Stack": "array",
}
_KEEP = ("description", "enum", "default", "required", "format")


def data_dir() -> Path:
    """The `bfcl_eval/data` directory of the installed package."""
    try:
        root = resources.files("bfcl_eval")
    except ModuleNotFoundError as exc:
        raise EvalError(
            "BFCL needs the 'bfcl-eval' package. Fix: pip install --no-deps bfcl-eval "
            "(plus mpmath for the multi-turn backends)"
        ) from exc
    return Path(str(root)) / "data"


@functools.cache
def _read(path: Path) -> tuple[dict[str, Any], ...]:
    with path.open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def load_entries(stem: str) -> list[tuple[dict[str, Any], list[Any] | None]]:
    """(question entry, ground truth or None) pairs of one BFCL category, in file order."""
    base = data_dir()
    questions = base / f"{_VERSION}_{stem}.json"
    if not questions.exists():
        raise EvalError(f"bfcl-eval ships no {questions.name}; is the installed version v4?")
    answers_path = base / "possible_answer" / f"{_VERSION}_{stem}.json"
    answers = {row["id"]: row["ground_truth"] for row in _read(answers_path)} if answers_path.exists() else {}
    return [(dict(entry), answers.get(entry["id"])) for entry in _read(questions)]


@functools.cache
def multi_turn_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    """The function docs BFCL declares for one multi-turn backend class."""
    from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING

    return _read(data_dir() / "multi_turn_func_doc" / MULTI_TURN_FUNC_DOC_FILE_MAPPING[class_name])


def to_json_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A BFCL parameter doc (`dict`, `float`, `tuple`, Java / JS type names) as standard JSON Schema."""
    out: dict[str, Any] = {}
    kind = parameters.get("type")
    if isinstance(kind, str):
        out["type"] = _TYPES.get(kind, "string")
    for name in _KEEP:
        if name in parameters:
            out[name] = parameters[name]
    if isinstance(parameters.get("properties"), Mapping):
        out["properties"] = {k: to_json_schema(v) for k, v in parameters["properties"].items()}
    if isinstance(parameters.get("items"), Mapping):
        out["items"] = to_json_schema(parameters["items"])
    if out.get("type") == "object" and "properties" not in out:
        out["properties"] = {}
    return out


class _NoRenaming(dict[str, Any]):
    """Stand-in for bfcl's MODEL_CONFIG_MAPPING: no model renames dotted function names."""

    def __missing__(self, key: str) -> Any:
        return types.SimpleNamespace(underscore_to_dot=False)


@functools.cache
def load_checkers() -> types.SimpleNamespace:
    """BFCL's own `ast_checker`, `multi_turn_checker`, Language and multi-turn backend table."""
    name = "bfcl_eval.constants.model_config"
    if name not in sys.modules:
        stub = types.ModuleType(name)
        stub.MODEL_CONFIG_MAPPING = _NoRenaming()  # type: ignore[attr-defined]
        sys.modules[name] = stub
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING, STATELESS_CLASSES
        from bfcl_eval.eval_checker.ast_eval import ast_checker as ast_module
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
        from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    except ImportError as exc:
        raise EvalError(
            f"bfcl-eval's checkers cannot be imported ({exc}). Fix: pip install --no-deps bfcl-eval mpmath"
        ) from exc
    # With the real model table (SDKs installed), "agentoss" is not in it: answer "no renaming" for it.
    if not isinstance(ast_module.MODEL_CONFIG_MAPPING, _NoRenaming):
        ast_module.MODEL_CONFIG_MAPPING = _NoRenaming(ast_module.MODEL_CONFIG_MAPPING)
    return types.SimpleNamespace(
        ast_checker=ast_checker,
        multi_turn_checker=multi_turn_checker,
        multi_turn_utils=multi_turn_utils,
        python=Language.PYTHON,
        languages={language.value: language for language in Language},
        class_paths=CLASS_FILE_PATH_MAPPING,
        stateless=frozenset(STATELESS_CLASSES),
    )
