"""`agentoss sandbox build|status|reap`: build the sandbox image offline, inspect it, clean up leaks."""

from __future__ import annotations

import click

__all__ = ["command"]


@click.group("sandbox")
def command() -> None:
    """Build and inspect the python sandbox image."""


@command.command("build")
@click.option(
    "--source",
    type=click.Choice(["auto", "registry", "debootstrap"]),
    default="auto",
    show_default=True,
    help="Where the Debian base comes from: a registry (Dockerfile) or debootstrap (offline).",
)
@click.option("--force", is_flag=True, help="Rebuild even when the image exists.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the image tag.")
def build(source: str, force: bool, quiet: bool) -> None:
    """Build the sandbox image (once; later calls reuse it) and print its tag."""
    from agentoss.errors import AgentossError
    from agentoss.sandboxes.image import build_image

    try:
        tag = build_image(source=source, force=force, log=(lambda line: None) if quiet else click.echo)  # type: ignore[arg-type]
    except AgentossError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(tag)


@command.command("status")
def status() -> None:
    """Show whether Docker answers, the image exists, and how many sandboxes run."""
    from agentoss.errors import AgentossError
    from agentoss.sandboxes.container import LABEL
    from agentoss.sandboxes.image import default_image, docker_client, image_exists

    tag = default_image()
    try:
        client = docker_client(timeout=10)
    except AgentossError as exc:
        click.echo(f"docker: unavailable ({exc})")
        raise SystemExit(1) from exc
    click.echo(f"docker: {client.version().get('Version', '?')}")
    present = image_exists(client, tag)
    click.echo(f"image: {tag} ({'present' if present else 'missing: run `agentoss sandbox build`'})")
    running = client.api.containers(all=True, filters={"label": LABEL})
    click.echo(f"sandbox containers: {len(running)}")
    if not present:
        raise SystemExit(1)


@command.command("reap")
@click.option(
    "--all", "everything", is_flag=True, help="Remove every agentoss sandbox, not only leaked ones."
)
def reap_command(everything: bool) -> None:
    """Remove sandbox containers and volumes whose owning process is gone."""
    from agentoss.errors import AgentossError
    from agentoss.sandboxes.image import docker_client
    from agentoss.sandboxes.reaper import reap

    try:
        client = docker_client(timeout=30)
    except AgentossError as exc:
        raise click.ClickException(str(exc)) from exc
    containers, volumes = reap(client, everything=everything)
    click.echo(f"removed {len(containers)} containers and {len(volumes)} volumes")
