"""regstore's reference driver: everything in memory, for tests and examples.

Importing this package imports nothing but core; the driver itself lives in
`regstore_inmemory.driver`.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
