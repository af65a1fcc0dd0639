from regstore.testing import StorageDriverSuite


class TestExampleConformance(StorageDriverSuite):
    driver_name = "example"
    local_root = True
