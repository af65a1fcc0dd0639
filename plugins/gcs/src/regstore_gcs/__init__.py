"""regstore's gcs driver: Google Cloud Storage on google-cloud-storage.

Importing this package (or its `plugin` entry point) imports nothing of the
Google libraries: listing installed drivers must stay cheap. The driver
lives in `regstore_gcs.driver`, which the factory imports only when a gcs
driver is created.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
