"""The entry point: declares the `filesystem` driver without importing it."""

from __future__ import annotations

from regstore import API_VERSION, Capabilities, DriverSpec, Parameter

SPEC = DriverSpec(
    name="filesystem",
    factory="regstore_filesystem.driver:FilesystemDriver.from_parameters",
    parameters=(
        Parameter(
            "rootdirectory",
            "str",
            default="/var/lib/registry",
            help="the directory holding the store; the file for path P is rootdirectory + P",
        ),
        Parameter(
            "maxthreads",
            "int",
            default=100,
            minimum=25,
            # Core's regulator preallocates one token per slot, so 10**12
            # exhausted memory (the process was OOM-killed). Go's runtime
            # refuses more than 10000 threads by default, so distribution
            # never ran more blocking calls at once either; more buys nothing.
            maximum=10_000,
            help="how many blocking filesystem calls may run at once (as distribution)",
        ),
    ),
    api_version=API_VERSION,
    # rootdirectory is a local directory: check and bench use a temporary one.
    local_root=True,
    # Every storage change of the driver goes through the `os` name of these
    # modules (raw fds, os.write/os.fsync/os.replace...), so the suite's
    # failure cases can make each one fail in turn (OSFaults).
    fault_modules=(
        "regstore_filesystem._fs",
        "regstore_filesystem.uploads",
        "regstore_filesystem.driver",
    ),
    # Stated here so `regstore drivers` can list them without importing the driver.
    capabilities=Capabilities(redirect=False, persistent=True, walk_order="tree"),
    summary="a local directory tree, on-disk layout shared with distribution",
)
