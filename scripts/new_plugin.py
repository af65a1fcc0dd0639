"""Create a new driver package from plugins/_template.

    python scripts/new_plugin.py NAME [--dest DIR]

Without --dest the package goes to plugins/NAME (a driver of this repo);
with it, to DIR/regstore-NAME (a third party's own project). The template is
a working driver named `example`; every spelling of that name is replaced:

    regstore-example  ->  regstore-NAME     (distribution)
    regstore_example  ->  regstore_NAME     (import package, folder)
    Example           ->  Name              (class names, CamelCase)
    example           ->  NAME              (driver / entry-point name)

`make new-plugin NAME=x [DEST=dir]` runs this script.
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "plugins" / "_template"
PLACEHOLDER = "example"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: What never belongs in a copy: caches and build output.
SKIP = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist",
    "*.egg-info", "*.sqlite3*",
)  # fmt: skip


class NewPluginError(Exception):
    """A name or destination the script refuses; the message says why."""


def check_name(name: str) -> None:
    """A driver name becomes a Python package suffix and an entry-point name:
    a lowercase identifier, not a keyword, not private."""
    if not NAME_PATTERN.fullmatch(name):
        raise NewPluginError(
            f"invalid NAME {name!r}: use a lowercase identifier (a-z, 0-9, _; starts with a letter)"
        )
    if keyword.iskeyword(name) or name.endswith("_") or "__" in name:
        raise NewPluginError(f"invalid NAME {name!r}: pick a plain lowercase word")


def renames(name: str) -> list[tuple[str, str]]:
    """The replacements, longest spelling first so none undoes another."""
    camel = "".join(part.capitalize() for part in name.split("_"))
    dashed = name.replace("_", "-")
    return [
        (f"regstore-{PLACEHOLDER}", f"regstore-{dashed}"),
        (f"regstore_{PLACEHOLDER}", f"regstore_{name}"),
        (PLACEHOLDER.capitalize(), camel),
        (PLACEHOLDER, name),
    ]


def render(text: str, name: str) -> str:
    """`text` with every spelling of the placeholder replaced."""
    for old, new in renames(name):
        text = text.replace(old, new)
    return text


def destination(name: str, dest: Path | None) -> Path:
    """plugins/NAME in this repo, or DEST/regstore-NAME."""
    if dest is None:
        return REPO / "plugins" / name
    return dest / f"regstore-{name.replace('_', '-')}"


def create(name: str, dest: Path | None = None) -> Path:
    """Copy the template to its destination, renamed; returns the new folder."""
    check_name(name)
    target = destination(name, dest)
    if target.exists():
        raise NewPluginError(f"{target} already exists; not overwriting it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename at the end: an error leaves nothing.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        work = staging / "plugin"
        shutil.copytree(TEMPLATE, work, ignore=SKIP)
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
            raise NewPluginError(f"template placeholder left in {', '.join(leftovers)}")
        work.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: prints the new folder, or why it refused."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the driver name: a lowercase identifier")
    parser.add_argument("--dest", type=Path, help="create DEST/regstore-NAME instead")
    args = parser.parse_args(argv)
    try:
        target = create(args.name, args.dest)
    except NewPluginError as err:
        print(f"new-plugin: {err}", file=sys.stderr)
        return 2
    print(f"created {target}")
    if args.dest is None:
        print(f"next: make sync, then make test-{args.name}")
    else:
        print(f"next: pip install -e {target}, then pytest {target / 'tests'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
