"""regstore's azure driver: Azure Blob Storage (and Azurite) as block blobs.

Importing this package (or its `plugin` entry point) imports neither
azure-storage-blob nor azure-identity: listing installed drivers must stay
cheap. The driver lives in `regstore_azure.driver`, which the factory
imports only when an azure driver is created.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
