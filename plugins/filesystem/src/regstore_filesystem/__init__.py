"""regstore's filesystem driver: a local directory tree, laid out exactly as
distribution's filesystem driver lays it out (the file for path P is
`rootdirectory + P`), so regstore and a distribution registry can share one
directory.

Importing this package imports nothing but core; the driver itself lives in
`regstore_filesystem.driver`.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
