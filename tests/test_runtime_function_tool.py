"""Function tools: schema inference from hints, defaults and docstrings; validation; sync in a thread."""

from __future__ import annotations

import asyncio
import threading
from enum import StrEnum
from typing import Literal

import pytest
from pydantic import BaseModel

from agentoss import FunctionTool, ToolCall, ToolError, function_tool
from agentoss.harmony import FunctionSpec


class Unit(StrEnum):
    C = "celsius"
    F = "fahrenheit"


class Point(BaseModel):
    x: float
    y: float


def _call(name: str, arguments: str) -> ToolCall:
    return ToolCall(recipient=f"functions.{name}", function=name, arguments=arguments)


def test_schema_from_hints_defaults_and_google_docstring() -> None:
    @function_tool
    def forecast(city: str, days: int = 3, unit: Unit = Unit.C, hourly: bool | None = None) -> str:
        """Weather forecast for a city.

        Longer explanation on a second paragraph.

        Args:
            city: The city name,
                with a continuation line.
            days: How many days ahead.
            unit: Temperature unit.
            hourly: Hourly detail.

        Returns:
            Text.
        """
        return city

    (spec,) = forecast.spec.functions
    assert forecast.spec.kind == "function" and spec.name == "forecast"
    assert spec.description == "Weather forecast for a city. Longer explanation on a second paragraph."
    schema = spec.parameters
    assert schema is not None
    assert schema["required"] == ["city"]
    props = schema["properties"]
    assert props["city"] == {"type": "string", "description": "The city name, with a continuation line."}
    assert props["days"]["default"] == 3 and props["days"]["type"] == "integer"
    assert "title" not in props["days"]
    assert schema["additionalProperties"] is False


def test_sphinx_docstring_and_overrides() -> None:
    @function_tool(name="area", description="Area of a rectangle.")
    def rect(width: float, height: float) -> float:
        """Ignored summary.

        :param width: The width.
        :param float height: The height.
        """
        return width * height

    (spec,) = rect.spec.functions
    assert spec.name == "area" and spec.description == "Area of a rectangle."
    assert spec.parameters is not None
    assert spec.parameters["properties"]["height"]["description"] == "The height."
    assert rect(2, 3) == 6  # still callable as plain Python


async def test_arguments_are_validated_and_coerced_before_the_call() -> None:
    seen = []

    @function_tool
    def place(point: Point, mode: Literal["fast", "slow"] = "fast") -> str:
        """Place a point."""
        seen.append((point, mode))
        return "ok"

    assert await place.call(_call("place", '{"point": {"x": 1, "y": "2.5"}}')) == "ok"
    assert seen == [(Point(x=1, y=2.5), "fast")]
    with pytest.raises(ToolError, match=r"point\.y"):
        await place.call(_call("place", '{"point": {"x": 1}}'))
    with pytest.raises(ToolError, match="mode"):
        await place.call(_call("place", '{"point": {"x": 1, "y": 1}, "mode": "warp"}'))
    with pytest.raises(ToolError, match="Extra inputs"):
        await place.call(_call("place", '{"point": {"x": 1, "y": 1}, "bogus": 1}'))
    assert len(seen) == 1


async def test_sync_functions_run_in_a_worker_thread_and_async_ones_on_the_loop() -> None:
    threads = {}

    @function_tool
    def blocking() -> str:
        """Sync."""
        threads["sync"] = threading.current_thread()
        return "s"

    @function_tool
    async def nonblocking() -> dict[str, int]:
        """Async."""
        threads["async"] = threading.current_thread()
        await asyncio.sleep(0)
        return {"n": 1}

    assert await blocking.call(_call("blocking", "")) == "s"
    assert await nonblocking.call(_call("nonblocking", "{}")) == '{"n": 1}'
    assert threads["sync"] is not threading.main_thread()
    assert threads["async"] is threading.main_thread()


async def test_function_tool_from_a_json_schema() -> None:
    spec = FunctionSpec(
        name="lookup",
        description="Look up a key.",
        parameters={
            "type": "object",
            "properties": {"key": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["key"],
            "additionalProperties": False,
        },
    )
    tool = FunctionTool(spec, lambda args: {"found": args["key"]})
    assert await tool.call(_call("lookup", '{"key": "a"}')) == '{"found": "a"}'
    with pytest.raises(ToolError, match="missing required argument 'key'"):
        await tool.call(_call("lookup", "{}"))
    with pytest.raises(ToolError, match="'limit' must be of type integer"):
        await tool.call(_call("lookup", '{"key": "a", "limit": "ten"}'))
    with pytest.raises(ToolError, match="unexpected argument 'other'"):
        await tool.call(_call("lookup", '{"key": "a", "other": 1}'))

    async def async_handler(args: dict) -> str:  # type: ignore[type-arg]
        return "async " + args["key"]

    assert await FunctionTool(spec, async_handler).call(_call("lookup", '{"key": "b"}')) == "async b"


def test_invalid_definitions_fail_early() -> None:
    with pytest.raises(TypeError, match="kwargs"):

        @function_tool
        def variadic(**kwargs: int) -> None:
            """No."""

    with pytest.raises(ValueError, match="must match"):
        FunctionTool(FunctionSpec(name="bad-name"), lambda args: None)


async def test_json_in_a_code_fence_is_accepted() -> None:
    @function_tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    assert await echo.call(_call("echo", '```json\n{"text": "hi"}\n```')) == "hi"
