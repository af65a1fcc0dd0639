"""regstore-example: a regstore storage driver over one SQLite database file.

Importing this package imports nothing but core; `regstore.create("example")`
imports `regstore_example.driver` only when a driver is made.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
