"""Create a new driver package from plugins/_template.

    python scripts/new_plugin.py NAME [--dest DIR]

Without --dest the package goes to plugins/NAME (a driver of this repo,
without the CI workflow of a standalone project: the repo's CI tests it);
with it, to DIR/regstore-NAME (a third party's own project). The work is
core's `regstore.scaffold`, loaded here by path so this runs with a bare
python3; with regstore installed, `regstore new-driver NAME [DIR]` does the
same. `make new-plugin NAME=x [DEST=dir]` runs this script.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
SCAFFOLD = REPO / "core" / "src" / "regstore" / "scaffold" / "__init__.py"


def load_scaffold() -> ModuleType:
    """regstore.scaffold from this checkout, without importing regstore
    (whose dependencies a bare python3 may lack)."""
    spec = importlib.util.spec_from_file_location("_regstore_scaffold", SCAFFOLD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: prints the new folder, or why it refused."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("name", help="the driver name: a lowercase identifier")
    parser.add_argument("--dest", type=Path, help="create DEST/regstore-NAME instead")
    args = parser.parse_args(argv)
    scaffold = load_scaffold()
    try:
        if args.dest is None:
            target = scaffold.create(args.name, REPO / "plugins" / args.name, standalone=False)
        else:
            target = scaffold.create(args.name, args.dest / scaffold.default_folder(args.name))
    except scaffold.ScaffoldError as err:
        print(f"new-plugin: {err}", file=sys.stderr)
        return 2
    print(f"created {target}")
    if args.dest is None:
        print(f"next: make sync, then make test-{args.name}")
    else:
        print(f'next: cd {target}; python -m pip install -e ".[test]"; python -m pytest')
    return 0


if __name__ == "__main__":
    sys.exit(main())
