from regstore.testing import StorageDriverSuite


class TestInMemoryConformance(StorageDriverSuite):
    driver_name = "inmemory"
    root_parameter = None
