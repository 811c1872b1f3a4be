"""Function tools: a `Tool` in the `functions` namespace, from a JSON Schema or from a typed Python callable.

`FunctionTool(spec, handler)` wraps a handler that takes the arguments dict (the schema is checked
lightly: object, required keys, no unknown keys when `additionalProperties` is false). `@function_tool`
infers the schema from the callable's type hints, defaults and docstring with pydantic, validates the
arguments before calling. Sync handlers and callables run on the runtime's daemon worker threads
(`threads.py`), so they never block the event loop, the tool timeout holds, and a call that never
returns cannot keep the process from exiting.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agentoss.harmony.messages import FunctionSpec
from agentoss.runtime.structured import validation_problems
from agentoss.runtime.threads import is_async_callable, run_blocking
from agentoss.runtime.tool import ToolCall, ToolError, ToolSpec

__all__ = ["FunctionTool", "function_tool", "parse_docstring"]

Handler = Callable[[dict[str, Any]], Any | Awaitable[Any]]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


class FunctionTool:
    """One function of the `functions` namespace, called with the JSON arguments the model wrote."""

    def __init__(self, spec: FunctionSpec, handler: Handler) -> None:
        if not _NAME.match(spec.name):
            raise ValueError(f"function tool name {spec.name!r} must match {_NAME.pattern}")
        self._spec = spec
        self._handler = handler
        self._handler_is_async = is_async_callable(handler)
        self._tool_spec = ToolSpec(namespace="functions", kind="function", functions=(spec,))

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def spec(self) -> ToolSpec:
        return self._tool_spec

    async def call(self, call: ToolCall) -> str:
        arguments = self.validate(decode_arguments(call.arguments))
        if self._handler_is_async:
            result = self._handler(arguments)
        else:
            # A sync handler may block (files, HTTP, CPU): keep it off the event loop.
            result = await run_blocking(self._handler, arguments)
        if inspect.isawaitable(result):
            result = await result
        return format_result(result)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check `arguments` against the top level of the JSON Schema; raise `ToolError` on a mismatch."""
        schema = self._spec.parameters or {}
        problems: list[str] = []
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in arguments:
                problems.append(f"missing required argument {key!r}")
        if schema.get("additionalProperties") is False:
            problems += [f"unexpected argument {key!r}" for key in arguments if key not in properties]
        for key, value in arguments.items():
            expected = (properties.get(key) or {}).get("type")
            if isinstance(expected, str) and expected in _JSON_TYPES and not _is_type(value, expected):
                problems.append(f"argument {key!r} must be of type {expected}, got {type(value).__name__}")
        if problems:
            raise ToolError(f"Invalid arguments for {self.name}: " + "; ".join(problems))
        return arguments

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"


class _CallableTool(FunctionTool):
    """A function tool made from a typed Python callable by `function_tool`."""

    def __init__(self, fn: Callable[..., Any], spec: FunctionSpec, model: type[BaseModel]) -> None:
        super().__init__(spec, self._invoke)
        self.fn = fn
        """The decorated callable, unchanged."""
        self._model = model
        self._is_async = is_async_callable(fn)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = self._model.model_validate(arguments)
        except ValidationError as exc:
            problems = validation_problems(exc, whole="arguments")
            raise ToolError(f"Invalid arguments for {self.name}: {problems}") from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    async def _invoke(self, arguments: dict[str, Any]) -> Any:
        if self._is_async:
            return await self.fn(**arguments)
        # Sync tools may block (files, HTTP, CPU): keep them off the event loop.
        return await run_blocking(self.fn, **arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the original function directly (the decorator keeps it usable as plain Python)."""
        return self.fn(*args, **kwargs)


@overload
def function_tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def function_tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a sync or async callable into a function tool: `@function_tool` or `@function_tool(...)`.

    The JSON Schema comes from the type hints and defaults (pydantic); the description and the
    per-argument descriptions from the docstring (Google `Args:` or Sphinx `:param x:` style).
    """

    def wrap(target: Callable[..., Any]) -> FunctionTool:
        return _build(target, name=name, description=description)

    return wrap(fn) if fn is not None else wrap


def _build(fn: Callable[..., Any], *, name: str | None, description: str | None) -> FunctionTool:
    summary, param_docs = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise TypeError(f"cannot resolve the type hints of {fn!r}: {exc}") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"function tool {fn.__name__}: *args / **kwargs cannot be described to the model")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
    tool_name = name or fn.__name__
    model = create_model(  # type: ignore[call-overload]
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = _strip_titles(model.model_json_schema())
    spec = FunctionSpec(name=tool_name, description=description or summary, parameters=schema)
    return _CallableTool(fn, spec, model)


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a docstring into its description and per-parameter descriptions."""
    lines = doc.strip().splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    args_indent: int | None = None
    for raw in lines:
        line = raw.strip()
        sphinx = re.match(r"^:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$", line)
        if sphinx:
            current, section = sphinx.group(1), "args"
            params[current] = sphinx.group(2)
            continue
        if re.match(r"^(Args|Arguments|Parameters|Params):\s*$", line):
            section, current, args_indent = "args", None, None
            continue
        if re.match(r"^(Returns?|Raises|Yields|Examples?|Notes?):\s*$", line) or line.startswith(":"):
            section, current = "other", None
            continue
        if section is None:
            summary.append(line)
        elif section == "args" and line:
            google = re.match(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
            indent = _indent(raw)
            if google and (args_indent is None or indent <= args_indent):
                args_indent = indent
                current = google.group(1)
                params[current] = google.group(2)
            elif current is not None:
                params[current] = f"{params[current]} {line}".strip()
    return " ".join(" ".join(summary).split()), params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's auto-generated `title` keys: they cost tokens and tell the model nothing."""
    if isinstance(schema, dict):
        return {
            key: _strip_titles(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def decode_arguments(text: str) -> dict[str, Any]:
    """Parse the model's argument text as a JSON object; raise `ToolError` saying what is wrong."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", stripped)
    if not stripped:
        return {}
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ToolError(
            f"Invalid JSON arguments ({exc.msg} at line {exc.lineno} column {exc.colno}). "
            "Send the arguments as one JSON object."
        ) from None
    if not isinstance(value, dict):
        raise ToolError(f"Arguments must be a JSON object, got {type(value).__name__}.")
    return value


def format_result(result: Any) -> str:
    """The text the model reads for a handler's return value."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)


def _is_type(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[expected])
