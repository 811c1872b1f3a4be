"""The built-in tool namespaces `python` and `browser`, with the descriptions gpt-oss was trained on.

The texts are the ones openai-harmony 0.0.8 and the gpt-oss reference tools render; golden tests check
that the system message we render with these namespaces is byte-identical to openai-harmony's own
`with_browser_tool()` / `with_python_tool()`.
"""

from __future__ import annotations

from agentoss.harmony.messages import FunctionSpec, ToolNamespace

__all__ = ["BROWSER_FUNCTIONS", "BUILTIN_RECIPIENTS", "browser_namespace", "python_namespace"]

_PYTHON_INTRO = (
    "Use this tool to execute Python code in your chain of thought. The code will not be shown to the "
    "user. This tool should be used for internal reasoning, but not for code that is intended to be "
    "visible to the user (e.g. when creating plots, tables, or files)."
)
_PYTHON_STATEFUL = (
    _PYTHON_INTRO + "\n\nWhen you send a message containing Python code to python, it will be executed in "
    "a stateful Jupyter notebook environment. python will respond with the output of the execution or "
    "time out after 120.0 seconds. The drive at '/mnt/data' can be used to save and persist user files. "
    "Internet access for this session is UNKNOWN. Depends on the cluster."
)
_PYTHON_STATELESS = (
    _PYTHON_INTRO.replace("execute Python code", "execute STATELESS Python code")
    + "\nWhen you send a message containing python code to python, it will be executed in a stateless "
    "docker container, and the stdout of that process will be returned to you. You have to use print "
    "statements to access the output.\n\nIMPORTANT: Your python environment is not shared between calls. "
    "You will have to pass your entire code each time."
)

_BROWSER_DESCRIPTION = (
    "Tool for browsing.\n"
    "The `cursor` appears in brackets before each browsing display: `[{cursor}]`.\n"
    "Cite information from the tool using the following format:\n"
    "`【{cursor}†L{line_start}(-L{line_end})?】`, for example: `【6†L9-L11】` or `【8†L3】`.\n"
    "Do not quote more than 10 words directly from the tool output.\n"
    "sources=web (default: web)"
)

BROWSER_FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="search",
        description="Searches for information related to `query` and displays `topn` results.",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "topn": {"type": "number", "default": 10},
                "source": {"type": "string"},
            },
            "required": ["query"],
        },
    ),
    FunctionSpec(
        name="open",
        description=(
            "Opens the link `id` from the page indicated by `cursor` starting at line number `loc`, "
            "showing `num_lines` lines.\n"
            "Valid link ids are displayed with the formatting: `【{id}†.*】`.\n"
            "If `cursor` is not provided, the most recent page is implied.\n"
            "If `id` is a string, it is treated as a fully qualified URL associated with `source`.\n"
            "If `loc` is not provided, the viewport will be positioned at the beginning of the document "
            "or centered on the most relevant passage, if available.\n"
            "Use this function without `id` to scroll to a new location of an opened page."
        ),
        parameters={
            "type": "object",
            "properties": {
                "id": {"type": ["number", "string"], "default": -1},
                "cursor": {"type": "number", "default": -1},
                "loc": {"type": "number", "default": -1},
                "num_lines": {"type": "number", "default": -1},
                "view_source": {"type": "boolean", "default": False},
                "source": {"type": "string"},
            },
        },
    ),
    FunctionSpec(
        name="find",
        description=("Finds exact matches of `pattern` in the current page, or the page given by `cursor`."),
        parameters={
            "type": "object",
            "properties": {
                "pattern": {"type": "string"},
                "cursor": {"type": "number", "default": -1},
            },
            "required": ["pattern"],
        },
    ),
)

BUILTIN_RECIPIENTS: dict[str, frozenset[str]] = {
    "python": frozenset({"python"}),
    "browser": frozenset(f"browser.{spec.name}" for spec in BROWSER_FUNCTIONS),
}
"""Valid recipients per built-in namespace (python takes raw code; browser has three functions)."""


def python_namespace(stateless: bool = False) -> ToolNamespace:
    """The `python` namespace: a stateful Jupyter kernel, or a stateless container when `stateless`."""
    return ToolNamespace(name="python", description=_PYTHON_STATELESS if stateless else _PYTHON_STATEFUL)


def browser_namespace() -> ToolNamespace:
    """The `browser` namespace with `search`, `open` and `find`."""
    return ToolNamespace(name="browser", description=_BROWSER_DESCRIPTION, functions=BROWSER_FUNCTIONS)
