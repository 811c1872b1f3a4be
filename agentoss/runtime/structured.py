"""Structured output: declare a pydantic model as a harmony Response Format and validate final answers."""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from agentoss.harmony.messages import ResponseFormat

__all__ = [
    "OutputValidationError",
    "response_format_for",
    "retry_message",
    "validate_output",
    "validation_problems",
]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class OutputValidationError(ValueError):
    """A final answer did not match `output_type`; the message is what the model is told."""


def response_format_for(output_type: type[BaseModel]) -> ResponseFormat:
    """The `# Response Formats` entry for a pydantic model: its name, JSON Schema and docstring."""
    doc = inspect.getdoc(output_type)
    description = doc if doc and doc != inspect.getdoc(BaseModel) else None
    return ResponseFormat(
        name=output_type.__name__,
        schema=output_type.model_json_schema(),
        description=description,
    )


def validate_output(output_type: type[BaseModel], text: str) -> Any:
    """Parse a final answer as `output_type` (a ```json fence is tolerated); raise `OutputValidationError`."""
    fenced = _FENCE.match(text)
    candidate = fenced.group(1) if fenced else text.strip()
    try:
        return output_type.model_validate_json(candidate)
    except ValidationError as exc:
        raise OutputValidationError(validation_problems(exc, whole="answer")) from None


def validation_problems(exc: ValidationError, *, whole: str) -> str:
    """Pydantic's errors as `path: message` pairs for the model to read; `whole` names an empty path."""
    return "; ".join(
        f"{'.'.join(str(piece) for piece in error['loc']) or whole}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def retry_message(output_type: type[BaseModel], problem: str) -> str:
    """What the model is told when its final answer failed validation."""
    return (
        f"Your final answer does not match the response format {output_type.__name__}: {problem}. "
        "Reply again with only a JSON object that matches the schema."
    )
