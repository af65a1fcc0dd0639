"""regstore: the storage-driver layer for Python registries and artifact stores.

One contract (`StorageDriver`, `FileWriter`, `FileInfo`), drivers installed as
separate packages and found through the `registry.storage_drivers` entry
points, and a conformance suite (`regstore.testing`) that proves a driver
keeps the contract.

    import regstore
    driver = regstore.create("filesystem", {"rootdirectory": "/srv/registry"})
    driver.put_content("/greeting", b"hello")
"""

from regstore.concurrency import Regulator
from regstore.config import ConfigError, StorageConfig, from_config, load_config
from regstore.driver import (
    API_VERSION,
    Buffer,
    Capabilities,
    FileInfo,
    FileWriter,
    StorageDriver,
    UploadInfo,
    WalkOrder,
)
from regstore.errors import (
    DriverConflictError,
    DriverNotFoundError,
    IncompatibleDriverError,
    InvalidOffsetError,
    InvalidParameterError,
    InvalidPathError,
    PathNotFoundError,
    RegstoreError,
    StorageDriverError,
    UnsupportedMethodError,
    UploadInUseError,
    WriterFailedError,
    WriterFinishedError,
)
from regstore.factory import (
    DRIVER_GROUP,
    MIDDLEWARE_GROUP,
    DriverInfo,
    DriverRegistry,
    DriverSpec,
    create,
    default_registry,
    drivers,
    register,
)
from regstore.hooks import OperationCall, hookimpl, hookspec
from regstore.managed import ManagedDriver
from regstore.params import Parameter, redact
from regstore.paths import validate_path
from regstore.walk import walk_tree

__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "DRIVER_GROUP",
    "MIDDLEWARE_GROUP",
    "Buffer",
    "Capabilities",
    "ConfigError",
    "DriverConflictError",
    "DriverInfo",
    "DriverNotFoundError",
    "DriverRegistry",
    "DriverSpec",
    "FileInfo",
    "FileWriter",
    "IncompatibleDriverError",
    "InvalidOffsetError",
    "InvalidParameterError",
    "InvalidPathError",
    "ManagedDriver",
    "OperationCall",
    "Parameter",
    "PathNotFoundError",
    "RegstoreError",
    "Regulator",
    "StorageConfig",
    "StorageDriver",
    "StorageDriverError",
    "UnsupportedMethodError",
    "UploadInUseError",
    "UploadInfo",
    "WalkOrder",
    "WriterFailedError",
    "WriterFinishedError",
    "__version__",
    "create",
    "default_registry",
    "drivers",
    "from_config",
    "hookimpl",
    "hookspec",
    "load_config",
    "redact",
    "register",
    "validate_path",
    "walk_tree",
]
