"""Options shared by `agentoss run` and `agentoss chat`, and how they become a backend, tools and an agent.

Backends, tools and sandboxes are found through `agentoss.registry`, so choosing `--backend vllm`
imports neither torch nor docker. Every option also reads an `AGENTOSS_*` environment variable, which
is how `make run` passes a configured backend through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from agentoss.errors import ConfigurationError

__all__ = [
    "BACKENDS",
    "NO_BACKEND_HELP",
    "AgentOptions",
    "agent_options",
    "backend_configured",
    "build_backend",
    "build_tools",
    "load_function_tools",
    "load_output_type",
]

F = TypeVar("F", bound=Callable[..., Any])
BACKENDS = ("vllm", "ollama", "llamacpp", "chat", "torch", "scripted")

NO_BACKEND_HELP = """\
agentoss needs a model backend, and none is configured. Pick one:

  vLLM (GPU, recommended)
      agentoss serve-model 20b                 # or: vllm serve openai/gpt-oss-20b
      export AGENTOSS_BASE_URL=http://127.0.0.1:8000
  Ollama
      ollama pull gpt-oss:20b                  # ollama serve must be running
      export AGENTOSS_BACKEND=ollama
  llama.cpp
      llama-server -m gpt-oss-20b-mxfp4.gguf --port 8080
      export AGENTOSS_BACKEND=llamacpp
  Embedded PyTorch engine (no server; a tiny synthetic checkpoint for a smoke test)
      agentoss engine synth --shape tiny --out DIR
      export AGENTOSS_BACKEND=torch AGENTOSS_CHECKPOINT=DIR
  Any OpenAI-compatible chat server (fallback, loses raw tokens)
      export AGENTOSS_BACKEND=chat AGENTOSS_BASE_URL=URL AGENTOSS_MODEL=NAME

Then: make run TASK="What is 2**100?"   (or: agentoss run --tools python "...")
The python tool runs in Docker (make services); without Docker: export AGENTOSS_SANDBOX=local
Check your setup with: agentoss doctor
"""


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """The parsed shared options."""

    base_url: str | None
    backend: str | None
    model: str | None
    api_key: str | None
    checkpoint: str | None
    script: str | None
    effort: str
    tools: tuple[str, ...]
    sandbox: str
    browser_corpus: str | None
    max_turns: int
    max_tokens: int | None
    tool_timeout: float
    timeout: float | None
    transcript: str | None
    approve: bool
    hide_reasoning: bool
    instructions: str | None
    temperature: float
    seed: int | None
    function_tools: tuple[str, ...]
    output_type: str | None

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> AgentOptions:
        names = cls.__dataclass_fields__
        return cls(**{name: kwargs.pop(name) for name in list(names)})


def _tool_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    from agentoss.registry import names as registered

    unknown = [name for name in names if name not in registered("tool")]
    if unknown:
        raise click.BadParameter(
            f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(registered('tool'))}"
        )
    return names


def agent_options(fn: F) -> F:
    """Decorate a click command with every backend, tool and limit option."""
    options = [
        click.option(
            "--base-url", envvar="AGENTOSS_BASE_URL", help="Model server URL (env AGENTOSS_BASE_URL)."
        ),
        click.option(
            "--backend",
            type=click.Choice(BACKENDS),
            envvar="AGENTOSS_BACKEND",
            help="Backend kind (default: vllm when a base URL is set). Env AGENTOSS_BACKEND.",
        ),
        click.option(
            "--model", envvar="AGENTOSS_MODEL", help="Model name sent to the server (env AGENTOSS_MODEL)."
        ),
        click.option(
            "--api-key", envvar="AGENTOSS_API_KEY", help="Bearer token for the server (env AGENTOSS_API_KEY)."
        ),
        click.option(
            "--checkpoint",
            envvar="AGENTOSS_CHECKPOINT",
            type=click.Path(file_okay=False),
            help="Checkpoint directory for --backend torch (env AGENTOSS_CHECKPOINT).",
        ),
        click.option(
            "--script",
            type=click.Path(dir_okay=False, exists=True),
            help="JSON script of replies for --backend scripted (testing and demos).",
        ),
        click.option(
            "--effort", type=click.Choice(["low", "medium", "high"]), default="medium", show_default=True
        ),
        click.option(
            "--tools", "tools", callback=_tool_list, help="Comma list of built-in tools: python,browser."
        ),
        click.option(
            "--sandbox", type=click.Choice(["docker", "local"]), default="docker", show_default=True
        ),
        click.option(
            "--browser-corpus",
            type=click.Path(exists=True, file_okay=False),
            help="Directory of documents the browser tool searches offline.",
        ),
        click.option("--max-turns", type=click.IntRange(min=1), default=32, show_default=True),
        click.option(
            "--max-tokens",
            type=click.IntRange(min=1),
            help="Most tokens sampled in one model call (default 16384, less when the context is full).",
        ),
        click.option(
            "--tool-timeout", type=click.FloatRange(min=0, min_open=True), default=180.0, show_default=True
        ),
        click.option(
            "--timeout", type=click.FloatRange(min=0, min_open=True), help="Wall-clock limit of a run (s)."
        ),
        click.option(
            "--transcript", type=click.Path(dir_okay=False), help="Append a JSONL transcript to FILE."
        ),
        click.option("--approve", is_flag=True, help="Ask y/n on the terminal before every tool call."),
        click.option("--hide-reasoning", is_flag=True, help="Do not show the model's chain of thought."),
        click.option("--instructions", help="Developer instructions for the model."),
        click.option("--temperature", type=float, default=1.0, show_default=True),
        click.option("--seed", type=int),
        click.option(
            "--function-tools",
            multiple=True,
            metavar="MODULE",
            help="Import MODULE and add its function tools (its TOOLS list, else its FunctionTools).",
        ),
        click.option(
            "--output-type",
            metavar="MODULE:CLASS",
            help="A pydantic model the final answer must match (structured output).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def backend_configured(options: AgentOptions) -> bool:
    """True when the options (or environment) name a backend that can be built."""
    if options.backend in ("ollama", "llamacpp"):
        return True
    if options.backend == "torch":
        return bool(options.checkpoint)
    if options.backend == "scripted":
        return bool(options.script)
    return bool(options.base_url)


def build_backend(options: AgentOptions) -> Any:
    """The backend the options describe; `ConfigurationError` when they describe none."""
    from agentoss import registry

    kind = options.backend or "vllm"
    if not backend_configured(options):
        raise ConfigurationError(f"no backend configured for --backend {kind}.\n\n{NO_BACKEND_HELP}")
    cls = registry.load("backend", kind)
    if kind == "vllm":
        return cls(options.base_url, api_key=options.api_key, model=options.model)
    if kind == "ollama":
        kwargs = {"model": options.model} if options.model else {}
        return cls(options.base_url, **kwargs) if options.base_url else cls(**kwargs)
    if kind == "llamacpp":
        return cls(options.base_url) if options.base_url else cls()
    if kind == "chat":
        if not options.model:
            raise ConfigurationError("--backend chat needs --model NAME (env AGENTOSS_MODEL)")
        return cls(options.base_url, api_key=options.api_key, model=options.model)
    if kind == "torch":
        return cls.load(Path(str(options.checkpoint)))
    from agentoss.testing.script import Script

    return cls(Script.load(str(options.script)))


def build_tools(options: AgentOptions, tools: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
    """The named built-in tools plus `--function-tools`, and the sandboxes the caller must close.

    `python` gets the chosen sandbox (a sandbox passed in stays ours to close: `PythonTool` closes
    only sandboxes it made itself); `browser` searches `--browser-corpus` when given.
    """
    from agentoss import registry

    built: list[Any] = []
    owned: list[Any] = []
    for name in tools:
        cls = registry.load("tool", name)
        if name == "python":
            sandbox = registry.load("sandbox", options.sandbox)()
            owned.append(sandbox)
            built.append(cls(sandbox, timeout=options.tool_timeout))
        elif name == "browser" and options.browser_corpus:
            built.append(cls.from_corpus(options.browser_corpus))
        else:
            built.append(cls())
    for module_name in options.function_tools:
        built += load_function_tools(module_name)
    return built, owned


def load_function_tools(module_name: str) -> list[Any]:
    """The function tools a module offers: its `TOOLS` list, else every `FunctionTool` it defines."""
    from agentoss.runtime.function_tool import FunctionTool

    module = _import(module_name)
    listed = getattr(module, "TOOLS", None)
    found = (
        list(listed)
        if listed is not None
        else [value for value in vars(module).values() if isinstance(value, FunctionTool)]
    )
    if not found:
        raise ConfigurationError(
            f"module {module_name} defines no function tools (no TOOLS, no @function_tool)"
        )
    return found


def load_output_type(spec: str | None) -> Any:
    """The pydantic model named `MODULE:CLASS`, or None."""
    if spec is None:
        return None
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ConfigurationError(f"--output-type must be MODULE:CLASS, got {spec!r}")
    try:
        return getattr(_import(module_name), attribute)
    except AttributeError:
        raise ConfigurationError(f"module {module_name} has no attribute {attribute!r}") from None


def _import(module_name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name}: {exc}") from exc
