"""A new driver package, made from regstore's driver template.

    regstore new-driver NAME [DIR]          (regstore.cli.scaffold)
    make new-plugin NAME=x [DEST=dir]       (in a regstore checkout)

The template is a working driver named `example` (a SQLite store and an
example middleware, with its tests, README, .gitignore and CI workflow).
`create()` copies it with every spelling of that name replaced:

    regstore-example  ->  regstore-NAME     (distribution)
    regstore_example  ->  regstore_NAME     (import package, folder)
    Example           ->  Name              (class names, CamelCase)
    example           ->  NAME              (driver / entry-point name)

One source of truth: the template is `plugins/_template` in the repository;
`regstore/scaffold/template` here is a symbolic link to it, which hatchling
follows, so the core wheel and sdist carry it as package data and an
editable install reads it in place. (Where a checkout has no symbolic links,
the repository's folder is found directly.)

Standard library only: `scripts/new_plugin.py` loads this file by path, with
no dependency of regstore installed.
"""

from __future__ import annotations

import keyword
import re
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "PLACEHOLDER",
    "ScaffoldError",
    "check_name",
    "create",
    "default_folder",
    "renames",
    "render",
    "template_dir",
]

PLACEHOLDER = "example"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: What never belongs in a copy: caches, build output, scratch databases.
SKIP = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist",
    "*.egg-info", "*.sqlite3*", ".venv",
)  # fmt: skip
#: Only for a standalone project: a package inside the regstore repository
#: is tested by the repository's own CI.
STANDALONE_ONLY = (".github",)


class ScaffoldError(Exception):
    """A name or destination that is refused; the message says why."""


def template_dir() -> Path:
    """The template: inside the installed wheel, else the checkout's
    plugins/_template (an editable install of core)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "template", here.parents[3] / "plugins" / "_template"):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise ScaffoldError(f"the driver template is missing (looked in {here / 'template'})")


def check_name(name: str) -> None:
    """A driver name becomes a Python package suffix and an entry-point name:
    a lowercase identifier, not a keyword, not private."""
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid NAME {name!r}: use a lowercase identifier (a-z, 0-9, _; starts with a letter)"
        )
    if keyword.iskeyword(name) or name.endswith("_") or "__" in name:
        raise ScaffoldError(f"invalid NAME {name!r}: pick a plain lowercase word")


def default_folder(name: str) -> str:
    """The folder name a new package gets by default: its distribution name."""
    return f"regstore-{name.replace('_', '-')}"


def renames(name: str) -> list[tuple[str, str]]:
    """The replacements, longest spelling first so none undoes another."""
    camel = "".join(part.capitalize() for part in name.split("_"))
    return [
        (f"regstore-{PLACEHOLDER}", default_folder(name)),
        (f"regstore_{PLACEHOLDER}", f"regstore_{name}"),
        (PLACEHOLDER.capitalize(), camel),
        (PLACEHOLDER, name),
    ]


def render(text: str, name: str) -> str:
    """`text` with every spelling of the placeholder replaced."""
    for old, new in renames(name):
        text = text.replace(old, new)
    return text


def create(name: str, target: Path, *, standalone: bool = True) -> Path:
    """Copy the template to the folder `target` (absent, or an empty
    folder), renamed for driver `name`; returns `target`. `standalone`
    false leaves out what only a project of its own needs (its CI
    workflow). An error leaves nothing behind."""
    check_name(name)
    target = target.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists; not overwriting it")
    source = template_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename at the end: an error leaves nothing.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        work = staging / "package"
        shutil.copytree(source, work, ignore=SKIP)
        if not standalone:
            for extra in STANDALONE_ONLY:
                shutil.rmtree(work / extra, ignore_errors=True)
        # Deepest paths first, so renaming a folder never moves a path still to visit.
        for path in sorted(work.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_file():
                path.write_text(render(path.read_text(encoding="utf-8"), name), encoding="utf-8")
            renamed = path.with_name(render(path.name, name))
            if renamed != path:
                path.rename(renamed)
        leftovers = [
            str(p.relative_to(work))
            for p in work.rglob("*")
            if p.is_file() and PLACEHOLDER in p.read_text(encoding="utf-8").lower()
        ]
        if leftovers and name != PLACEHOLDER:
            raise ScaffoldError(f"template placeholder left in {', '.join(leftovers)}")
        if target.exists():
            target.rmdir()  # empty, checked above
        work.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
