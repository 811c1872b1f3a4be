"""Package list for the setuptools build: the core plus the three side packages, mapped by directory.

`tools/`, `sandboxes/` and `evals/` live at the top of the repository but install as
`agentoss.tools`, `agentoss.sandboxes` and `agentoss.evals`, so no generic top-level name is installed.
"""

from setuptools import find_packages, setup

SIDE_PACKAGES = {"agentoss.tools": "tools", "agentoss.sandboxes": "sandboxes", "agentoss.evals": "evals"}


def _packages() -> list[str]:
    names = ["agentoss", *(f"agentoss.{sub}" for sub in find_packages("agentoss"))]
    for name, directory in SIDE_PACKAGES.items():
        names += [name, *(f"{name}.{sub}" for sub in find_packages(directory))]
    return names


setup(packages=_packages())
