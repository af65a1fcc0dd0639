"""regstore.config: distribution's `storage:` / `middleware: storage:` and the
REGISTRY_* environment, as operators write them.

Core's tests run with only core and inmemory installed (filesystem when
present), so the drivers whose parameter declarations the environment rules
need (s3, azure, gcs) are stood in for by a registry that sees no installed
distribution (`fake_env`) and has them registered in code with the same
declarations as the real plugins. load_config never imports a factory.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from regstore import DriverRegistry, Parameter, RegstoreError
from regstore.config import (
    ConfigError,
    MiddlewareEntry,
    StorageConfig,
    UploadPurging,
    load_config,
    parse_duration,
)
from regstore.params import REDACTED

SECRET = "Sup3rSecret-0123"
#: conftest's FakeEnvironment (tests cannot import conftest by name).
FakeEnvironment = Any

# -- stand-ins for the plugins' declarations ---------------------------------------

S3_PARAMETERS = (
    Parameter("accesskey", secret=True),
    Parameter("secretkey", secret=True),
    Parameter("region"),
    Parameter("regionendpoint"),
    Parameter("forcepathstyle", kind="bool"),
    Parameter("accelerate", kind="bool"),
    Parameter("bucket", required=True),
    Parameter("encrypt", kind="bool"),
    Parameter("keyid"),
    Parameter("secure", kind="bool"),
    Parameter("v4auth", kind="bool"),
    Parameter("chunksize", kind="size"),
    Parameter("multipartcopychunksize", kind="size"),
    Parameter("multipartcopymaxconcurrency", kind="int"),
    Parameter("multipartcopythresholdsize", kind="size"),
    Parameter("rootdirectory"),
    Parameter("usedualstack", kind="bool"),
    Parameter("loglevel", kind="choice", choices=("off", "debug")),
)
AZURE_PARAMETERS = (
    Parameter("accountname"),
    Parameter("accountkey", secret=True),
    Parameter("container"),
    Parameter("rootdirectory"),
    Parameter(
        "credentials",
        kind="mapping",
        fields=(
            Parameter("type"),
            Parameter("clientid"),
            Parameter("tenantid"),
            Parameter("secret", secret=True),
        ),
    ),
    Parameter("max_retries", kind="int", aliases=("copy_status_poll_max_retry",)),
    Parameter("retry_delay", kind="float", aliases=("copy_status_poll_delay",)),
    Parameter("skipverify", kind="bool"),
)
GCS_FIELDS = tuple(
    Parameter(name, secret=name == "private_key")
    for name in (
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
    )
)
GCS_PARAMETERS = (
    Parameter("bucket"),
    Parameter("keyfile"),
    Parameter("credentials", kind="mapping", secret=True, fields=GCS_FIELDS),
    Parameter("rootdirectory"),
    Parameter("chunksize", kind="size"),
)
FILESYSTEM_PARAMETERS = (Parameter("rootdirectory"), Parameter("maxthreads", kind="int"))


@pytest.fixture
def stand_ins(fake_env: FakeEnvironment) -> DriverRegistry:
    """s3, azure, gcs and filesystem declared in code; nothing installed."""
    registry = DriverRegistry(load_hooks=False)
    for name, parameters in (
        ("s3", S3_PARAMETERS),
        ("azure", AZURE_PARAMETERS),
        ("gcs", GCS_PARAMETERS),
        ("filesystem", FILESYSTEM_PARAMETERS),
    ):
        registry.register(name, f"regstore_{name}.driver:NotImported", parameters=parameters)
    registry.register("inmemory", "regstore_inmemory.driver:NotImported")
    return registry


@pytest.fixture
def bare(fake_env: FakeEnvironment) -> DriverRegistry:
    """No driver known at all: specs are unknown, parsing must still work."""
    return DriverRegistry(load_hooks=False)


def _load(
    text: str, registry: DriverRegistry, environ: Mapping[str, str] | None = None
) -> StorageConfig:
    return load_config(textwrap.dedent(text), environ=dict(environ or {}), registry=registry)


def _error(
    text: str, registry: DriverRegistry, environ: Mapping[str, str] | None = None
) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _load(text, registry, environ)
    assert isinstance(caught.value, RegstoreError)
    return caught.value


# -- upstream's documented examples -------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A documented configuration and what it must parse into."""

    ident: str
    text: str
    driver: str
    parameters: dict[str, Any]
    middleware: tuple[MiddlewareEntry, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)


# distribution's docs/content/about/configuration.md (storage: and middleware:
# sections, one driver at a time) and storage-drivers/middleware/rewrite.md.
EXAMPLES = [
    Example(
        "filesystem",
        """
        storage:
          filesystem:
            rootdirectory: /var/lib/registry
            maxthreads: 100
        """,
        "filesystem",
        {"rootdirectory": "/var/lib/registry", "maxthreads": 100},
    ),
    Example(
        "azure",
        """
        storage:
          azure:
            accountname: accountname
            accountkey: base64encodedaccountkey
            container: containername
            rootdirectory: /az/object/name/prefix
            credentials:
              type: client_secret
              clientid: client_id_string
              tenantid: tenant_id_string
              secret: secret_string
            max_retries: 10
            retry_delay: 100ms
        """,
        "azure",
        {
            "accountname": "accountname",
            "accountkey": "base64encodedaccountkey",
            "container": "containername",
            "rootdirectory": "/az/object/name/prefix",
            "credentials": {
                "type": "client_secret",
                "clientid": "client_id_string",
                "tenantid": "tenant_id_string",
                "secret": "secret_string",
            },
            "max_retries": 10,
            "retry_delay": "100ms",
        },
    ),
    Example(
        "gcs",
        """
        storage:
          gcs:
            bucket: bucketname
            keyfile: /path/to/keyfile
            credentials:
              type: service_account
              project_id: project_id_string
              private_key_id: private_key_id_string
              private_key: private_key_string
              client_email: client@example.com
              client_id: client_id_string
              auth_uri: http://example.com/auth_uri
              token_uri: http://example.com/token_uri
              auth_provider_x509_cert_url: http://example.com/provider_cert_url
              client_x509_cert_url: http://example.com/client_cert_url
            rootdirectory: /gcs/object/name/prefix
            chunksize: 5242880
        """,
        "gcs",
        {
            "bucket": "bucketname",
            "keyfile": "/path/to/keyfile",
            "credentials": {
                "type": "service_account",
                "project_id": "project_id_string",
                "private_key_id": "private_key_id_string",
                "private_key": "private_key_string",
                "client_email": "client@example.com",
                "client_id": "client_id_string",
                "auth_uri": "http://example.com/auth_uri",
                "token_uri": "http://example.com/token_uri",
                "auth_provider_x509_cert_url": "http://example.com/provider_cert_url",
                "client_x509_cert_url": "http://example.com/client_cert_url",
            },
            "rootdirectory": "/gcs/object/name/prefix",
            "chunksize": 5242880,
        },
    ),
    Example(
        "s3-with-settings",
        """
        storage:
          s3:
            accesskey: awsaccesskey
            secretkey: awssecretkey
            region: us-west-1
            regionendpoint: http://myobjects.local
            forcepathstyle: true
            accelerate: false
            bucket: bucketname
            encrypt: true
            keyid: mykeyid
            secure: true
            v4auth: true
            chunksize: 5242880
            multipartcopychunksize: 33554432
            multipartcopymaxconcurrency: 100
            multipartcopythresholdsize: 33554432
            rootdirectory: /s3/object/name/prefix
            usedualstack: false
            loglevel: debug
          tag:
            concurrencylimit: 8
          delete:
            enabled: false
          redirect:
            disable: false
          cache:
            blobdescriptor: redis
            blobdescriptorsize: 10000
          maintenance:
            uploadpurging:
              enabled: true
              age: 168h
              interval: 24h
              dryrun: false
            readonly:
              enabled: false
        """,
        "s3",
        {
            "accesskey": "awsaccesskey",
            "secretkey": "awssecretkey",
            "region": "us-west-1",
            "regionendpoint": "http://myobjects.local",
            "forcepathstyle": True,
            "accelerate": False,
            "bucket": "bucketname",
            "encrypt": True,
            "keyid": "mykeyid",
            "secure": True,
            "v4auth": True,
            "chunksize": 5242880,
            "multipartcopychunksize": 33554432,
            "multipartcopymaxconcurrency": 100,
            "multipartcopythresholdsize": 33554432,
            "rootdirectory": "/s3/object/name/prefix",
            "usedualstack": False,
            "loglevel": "debug",
        },
        settings={
            "tag": 8,
            "delete": False,
            "redirect_disable": False,
            "cache": ("redis", 10000),
            "purging": UploadPurging(True, dt.timedelta(hours=168), dt.timedelta(hours=24), False),
            "readonly": False,
        },
    ),
    Example(
        "inmemory",
        """
        storage:
          inmemory:  # This driver takes no parameters
        """,
        "inmemory",
        {},
    ),
    Example(
        "cloudfront",
        """
        storage:
          s3:
            bucket: bucketname
            region: us-east-1
        middleware:
          storage:
            - name: cloudfront
              options:
                baseurl: https://my.cloudfronted.domain.com/
                privatekey: /path/to/pem
                keypairid: cloudfrontkeypairid
                duration: 3000s
                ipfilteredby: awsregion
                awsregion: us-east-1, use-east-2
                updatefrequency: 12h
                iprangesurl: https://ip-ranges.amazonaws.com/ip-ranges.json
        """,
        "s3",
        {"bucket": "bucketname", "region": "us-east-1"},
        (
            MiddlewareEntry(
                "cloudfront",
                {
                    "baseurl": "https://my.cloudfronted.domain.com/",
                    "privatekey": "/path/to/pem",
                    "keypairid": "cloudfrontkeypairid",
                    "duration": "3000s",
                    "ipfilteredby": "awsregion",
                    "awsregion": "us-east-1, use-east-2",
                    "updatefrequency": "12h",
                    "iprangesurl": "https://ip-ranges.amazonaws.com/ip-ranges.json",
                },
            ),
        ),
    ),
    Example(
        "redirect",
        """
        storage:
          filesystem:
            rootdirectory: /var/lib/registry
        middleware:
          storage:
            - name: redirect
              options:
                baseurl: https://example.com/
        """,
        "filesystem",
        {"rootdirectory": "/var/lib/registry"},
        (MiddlewareEntry("redirect", {"baseurl": "https://example.com/"}),),
    ),
    Example(
        "rewrite",
        """
        storage:
          azure:
            accountname: "ACCOUNT_NAME"
            accountkey: "******"
            container: container-name
        middleware:
          storage:
            - name: rewrite
              options:
                scheme: https
                host: example-cdn-endpoint.azurefd.net
                trimpathprefix: /container-name
        """,
        "azure",
        {"accountname": "ACCOUNT_NAME", "accountkey": "******", "container": "container-name"},
        (
            MiddlewareEntry(
                "rewrite",
                {
                    "scheme": "https",
                    "host": "example-cdn-endpoint.azurefd.net",
                    "trimpathprefix": "/container-name",
                },
            ),
        ),
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.ident for e in EXAMPLES])
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "unknown-specs"])
def test_documented_example(
    example: Example, declared: bool, stand_ins: DriverRegistry, bare: DriverRegistry
) -> None:
    # Wrapped in a whole registry configuration, as a config.yml is.
    text = "version: 0.1\nlog:\n  level: debug\n" + textwrap.dedent(example.text)
    config = _load(text, stand_ins if declared else bare)
    assert config.driver == example.driver
    assert config.parameters == example.parameters
    assert config.middleware == example.middleware
    assert config.source == "<text>"
    settings = example.settings
    if settings:
        assert config.tag.concurrencylimit == settings["tag"]
        assert config.delete.enabled is settings["delete"]
        assert config.redirect.disable is settings["redirect_disable"]
        assert (config.cache.blobdescriptor, config.cache.blobdescriptorsize) == settings["cache"]
        assert config.maintenance.uploadpurging == settings["purging"]
        assert config.maintenance.readonly.enabled is settings["readonly"]
    else:  # upstream's defaults
        assert config.maintenance.uploadpurging == UploadPurging(
            True, dt.timedelta(days=7), dt.timedelta(days=1), False
        )
        assert not config.maintenance.readonly.enabled
        assert not config.delete.enabled
        assert not config.redirect.disable
        assert config.tag.concurrencylimit is None


def test_upstream_full_listing_is_two_drivers(stand_ins: DriverRegistry) -> None:
    # configuration.md's "list of options" names every driver at once: as
    # upstream, more than one driver is refused, each one named.
    text = "storage:\n" + "".join(
        textwrap.indent(textwrap.dedent(e.text).split("\n", 2)[2], "")
        for e in EXAMPLES
        if e.ident in {"filesystem", "azure", "gcs", "inmemory"}
    )
    err = _error(text, stand_ins)
    for name in ("filesystem", "azure", "gcs", "inmemory"):
        assert name in str(err)
    assert "more than one driver" in str(err)


def test_bare_string_storage(bare: DriverRegistry) -> None:
    config = _load("storage: inmemory\n", bare)
    assert (config.driver, config.parameters) == ("inmemory", {})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("version: 0.1\n", ["no storage driver"]),
        ("storage:\n  delete:\n    enabled: true\n", ["no storage driver"]),
        ("storage: [a, b]\n", ["storage is a mapping"]),
        ("storage:\n  filesystem: /srv\n", ["storage.filesystem", "mapping"]),
        ("storage:\n  delete: true\n", ["storage.delete is a mapping"]),
        ("storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      age: soon\n", ["age"]),
        (
            "storage:\n  inmemory:\n  maintenance:\n    readonly:\n      enabled: maybe\n",
            ["readonly.enabled"],
        ),
        ("storage:\n  inmemory:\n  delete:\n    enable: true\n", ["storage.delete.enable"]),
        ("storage:\n  inmemory:\n  tag:\n    concurrencylimit: many\n", ["concurrencylimit"]),
        ("storage: inmemory\nmiddleware: [x]\n", ["middleware is a mapping"]),
        (
            "storage: inmemory\nmiddleware:\n  storage: {name: x}\n",
            ["middleware.storage is a list"],
        ),
        (
            "storage: inmemory\nmiddleware:\n  storage:\n    - options: {}\n",
            ["middleware.storage[0] has no name"],
        ),
        (
            "storage: inmemory\nmiddleware:\n  storage:\n    - name: r\n      option: {}\n",
            ["middleware.storage[0]", "option"],
        ),
        (
            "storage: inmemory\nmiddleware:\n  storage:\n    - name: r\n      options: [a]\n",
            ["middleware.storage[0].options"],
        ),
        (
            "storage: inmemory\nmiddleware:\n  storage:\n    - name: r\n      disabled: perhaps\n",
            ["middleware.storage[0].disabled"],
        ),
        ("storage:\n  1: {}\n", ["key 1"]),
        ("- just\n- a list\n", ["a mapping, not list"]),
    ],
)
def test_structure_errors(text: str, words: list[str], bare: DriverRegistry) -> None:
    err = _error(text, bare)
    assert str(err).startswith("<text>: ")
    for word in words:
        assert word in str(err)


def test_upstream_1736_workaround_accepted(bare: DriverRegistry) -> None:
    # Operators hit by #1736 write an empty string for the section.
    text = "storage:\n  inmemory:\n  maintenance: ''\n"
    assert not _load(text, bare).maintenance.readonly.enabled
    text = "storage:\n  inmemory:\n  maintenance:\n    uploadpurging: ''\n"
    assert _load(text, bare).maintenance.uploadpurging == UploadPurging()


# -- sources ---------------------------------------------------------------------------

DOCUMENT = "storage:\n  filesystem:\n    rootdirectory: /srv/registry\n"


def test_source_path_text_and_mapping(tmp_path: pathlib.Path, bare: DriverRegistry) -> None:
    path = tmp_path / "config.yml"
    path.write_text(DOCUMENT)
    by_path = load_config(path, environ={}, registry=bare)
    by_str_path = load_config(str(path), environ={}, registry=bare)
    by_text = load_config(DOCUMENT, environ={}, registry=bare)
    by_mapping = load_config(yaml.safe_load(DOCUMENT), environ={}, registry=bare)
    for config in (by_path, by_str_path, by_text, by_mapping):
        assert config.driver == "filesystem"
        assert config.parameters == {"rootdirectory": "/srv/registry"}
    assert by_path.source == by_str_path.source == str(path)
    assert by_text.source == "<text>"
    assert by_mapping.source == "<mapping>"


def test_one_line_text_source(bare: DriverRegistry) -> None:
    assert load_config("storage: {inmemory: }", environ={}, registry=bare).driver == "inmemory"


def test_text_whose_first_line_is_longer_than_a_file_name(bare: DriverRegistry) -> None:
    # Was an OSError (ENAMETOOLONG) from Path.exists() on the text.
    text = "# " + "x" * 300 + "\n" + DOCUMENT
    assert load_config(text, environ={}, registry=bare).driver == "filesystem"


@pytest.mark.parametrize("name", ["missing.yml", "conf:prod.yml", "sub/dir/config.yaml"])
def test_missing_file_names_it(tmp_path: pathlib.Path, bare: DriverRegistry, name: str) -> None:
    # A one-line string that is no YAML mapping is a path (it was taken for
    # YAML text when it held a colon, and the error named no file).
    target = str(tmp_path / name)
    with pytest.raises(ConfigError) as caught:
        load_config(target, environ={}, registry=bare)
    assert str(caught.value).startswith(f"{target}: cannot read the configuration")


def test_file_encoding(tmp_path: pathlib.Path, bare: DriverRegistry) -> None:
    # Was a UnicodeDecodeError out of load_config.
    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes(b"storage:\n  filesystem:\n    rootdirectory: /caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(latin1, environ={}, registry=bare)
    assert str(caught.value) == f"{latin1}: the configuration is not UTF-8 text (byte 46)"
    bom = tmp_path / "bom.yml"
    bom.write_bytes(b"\xef\xbb\xbfstorage: inmemory\n")
    assert load_config(bom, environ={}, registry=bare).driver == "inmemory"


def test_key_given_twice_keeps_the_last_as_upstream(bare: DriverRegistry) -> None:
    # Upstream's yaml.Unmarshal (not strict) keeps the last value; so does
    # regstore, to read what the registry reads. Upstream's own listing
    # gives middleware.storage twice: the redirect entry is what counts.
    text = """
    storage:
      filesystem: {}
    storage:
      inmemory:
    middleware:
      storage:
        - name: cloudfront
      storage:
        - name: redirect
    """
    config = _load(text, bare)
    assert config.driver == "inmemory"
    assert [m.name for m in config.middleware] == ["redirect"]


def test_bad_source_type(bare: DriverRegistry) -> None:
    with pytest.raises(ConfigError, match="not int"):
        load_config(42, environ={}, registry=bare)  # type: ignore[arg-type]


def test_bad_yaml_names_the_line(tmp_path: pathlib.Path, bare: DriverRegistry) -> None:
    path = tmp_path / "config.yml"
    path.write_text("storage:\n  filesystem:\n    rootdirectory: [/srv\n  delete: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, registry=bare)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "(line 4, column" in message


def test_environ_defaults_to_os_environ(
    monkeypatch: pytest.MonkeyPatch, bare: DriverRegistry
) -> None:
    monkeypatch.setenv("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/from/env")
    config = load_config(DOCUMENT, registry=bare)
    assert config.parameters == {"rootdirectory": "/from/env"}


# -- the environment ----------------------------------------------------------------


@dataclass(frozen=True)
class EnvCase:
    """Variables over a YAML text, and the parameters/settings they give."""

    ident: str
    text: str
    environ: dict[str, str]
    driver: str
    parameters: dict[str, Any]
    check: dict[str, Any] = field(default_factory=dict)


S3_YAML = """
storage:
  s3:
    bucket: yaml-bucket
    region: us-east-1
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      age: 2h
    readonly:
      enabled: true
  redirect:
    disable: true
"""

ENV_CASES = [
    EnvCase(
        "parameter-set",
        S3_YAML,
        {"REGISTRY_STORAGE_S3_BUCKET": "env-bucket", "REGISTRY_STORAGE_S3_SECURE": "false"},
        "s3",
        {"bucket": "env-bucket", "region": "us-east-1", "secure": False},
    ),
    EnvCase(
        # Upstream's rule (TestParseWithSameEnvStorage): REGISTRY_STORAGE
        # replaces the whole map, parameters and settings dropped; variables
        # sorted after it add to the new map.
        "storage-replaces-map-same-driver",
        S3_YAML,
        {"REGISTRY_STORAGE": "s3", "REGISTRY_STORAGE_S3_REGION": "eu-west-1"},
        "s3",
        {"region": "eu-west-1"},
        {"delete": False, "readonly": False, "redirect_disable": False, "age": dt.timedelta(7)},
    ),
    EnvCase(
        "storage-replaces-map-other-driver",
        S3_YAML,
        {
            "REGISTRY_STORAGE": "azure",
            "REGISTRY_STORAGE_AZURE_ACCOUNTNAME": "acct",
            "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true",
        },
        "azure",
        {"accountname": "acct"},
        {"delete": False, "readonly": True},
    ),
    EnvCase(
        "storage-without-yaml",
        "version: 0.1\n",
        {"REGISTRY_STORAGE": "gcs", "REGISTRY_STORAGE_GCS_BUCKET": "b"},
        "gcs",
        {"bucket": "b"},
    ),
    EnvCase(
        "driver-from-variable-alone",
        "version: 0.1\n",
        {"REGISTRY_STORAGE_S3_BUCKET": "b"},
        "s3",
        {"bucket": "b"},
    ),
    EnvCase(
        "yaml-scalars",
        "storage:\n  s3:\n    bucket: b\n",
        {
            "REGISTRY_STORAGE_S3_ENCRYPT": "true",
            "REGISTRY_STORAGE_S3_MULTIPARTCOPYMAXCONCURRENCY": "10",
            "REGISTRY_STORAGE_S3_CHUNKSIZE": "5242880",
        },
        "s3",
        {"bucket": "b", "encrypt": True, "multipartcopymaxconcurrency": 10, "chunksize": 5242880},
    ),
    EnvCase(
        # Upstream's YAML decoding turns these into numbers (0123 -> 83 or
        # 123, 1e3 -> 1000.0); a string parameter keeps the text.
        "string-params-keep-text",
        "storage:\n  s3:\n    bucket: b\n",
        {
            "REGISTRY_STORAGE_S3_ACCESSKEY": "0123",
            "REGISTRY_STORAGE_S3_SECRETKEY": "1e3",
            "REGISTRY_STORAGE_S3_REGION": "true",
            "REGISTRY_STORAGE_S3_KEYID": " 42 ",
            "REGISTRY_STORAGE_S3_LOGLEVEL": "off",  # a choice; YAML 1.1 reads false
        },
        "s3",
        {
            "bucket": "b",
            "accesskey": "0123",
            "secretkey": "1e3",
            "region": "true",
            "keyid": " 42 ",
            "loglevel": "off",
        },
    ),
    EnvCase(
        # Upstream: {max: {retries: 3}}, silently ignored.
        "underscore-param",
        "storage:\n  azure:\n    accountname: a\n",
        {"REGISTRY_STORAGE_AZURE_MAX_RETRIES": "3", "REGISTRY_STORAGE_AZURE_RETRY_DELAY": "0.5"},
        "azure",
        {"accountname": "a", "max_retries": 3, "retry_delay": 0.5},
    ),
    EnvCase(
        "alias-name",
        "storage:\n  azure:\n    accountname: a\n",
        {"REGISTRY_STORAGE_AZURE_COPY_STATUS_POLL_MAX_RETRY": "7"},
        "azure",
        {"accountname": "a", "max_retries": 7},
    ),
    EnvCase(
        # The YAML's older name is replaced, not kept beside the new value
        # (which made create() fail with "give only one of them").
        "variable-replaces-alias-in-yaml",
        "storage:\n  azure:\n    accountname: a\n    copy_status_poll_max_retry: 2\n",
        {"REGISTRY_STORAGE_AZURE_MAX_RETRIES": "9"},
        "azure",
        {"accountname": "a", "max_retries": 9},
    ),
    EnvCase(
        "nested-mapping-field",
        "storage:\n  azure:\n    accountname: a\n    credentials:\n      type: client_secret\n",
        {
            "REGISTRY_STORAGE_AZURE_CREDENTIALS_CLIENTID": "cid",
            "REGISTRY_STORAGE_AZURE_CREDENTIALS_TENANTID": "0042",
            "REGISTRY_STORAGE_AZURE_CREDENTIALS_SECRET": "007",
        },
        "azure",
        {
            "accountname": "a",
            "credentials": {
                "type": "client_secret",
                "clientid": "cid",
                "tenantid": "0042",
                "secret": "007",
            },
        },
    ),
    EnvCase(
        "nested-mapping-field-without-yaml",
        "storage:\n  azure:\n    accountname: a\n",
        {"REGISTRY_STORAGE_AZURE_CREDENTIALS_TYPE": "default_credentials"},
        "azure",
        {"accountname": "a", "credentials": {"type": "default_credentials"}},
    ),
    EnvCase(
        # Whole map as JSON, then a field on top (sorted: the field comes later).
        "mapping-json-then-field",
        "storage:\n  azure:\n    accountname: a\n",
        {
            "REGISTRY_STORAGE_AZURE_CREDENTIALS": '{"type": "client_secret", "clientid": "x"}',
            "REGISTRY_STORAGE_AZURE_CREDENTIALS_CLIENTID": "y",
        },
        "azure",
        {"accountname": "a", "credentials": {"type": "client_secret", "clientid": "y"}},
    ),
    EnvCase(
        # Upstream rejects gcs credentials from the environment.
        "gcs-credentials-json",
        "storage:\n  gcs:\n    bucket: b\n",
        {
            "REGISTRY_STORAGE_GCS_CREDENTIALS": (
                '{"type": "service_account", "project_id": "p", '
                '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n'
                '-----END PRIVATE KEY-----\\n"}'
            )
        },
        "gcs",
        {
            "bucket": "b",
            "credentials": {
                "type": "service_account",
                "project_id": "p",
                "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
            },
        },
    ),
    EnvCase(
        "gcs-credentials-field-with-underscores",
        "storage:\n  gcs:\n    bucket: b\n",
        {
            "REGISTRY_STORAGE_GCS_CREDENTIALS_PROJECT_ID": "0123",
            "REGISTRY_STORAGE_GCS_CREDENTIALS_CLIENT_X509_CERT_URL": "https://x.example/c",
        },
        "gcs",
        {
            "bucket": "b",
            "credentials": {"project_id": "0123", "client_x509_cert_url": "https://x.example/c"},
        },
    ),
    EnvCase(
        # #1736: upstream panics when the YAML lacks the section.
        "maintenance-without-yaml-section",
        "storage:\n  s3:\n    bucket: b\n",
        {
            "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "20m",
            "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_DRYRUN": "true",
            "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true",
            "REGISTRY_STORAGE_DELETE_ENABLED": "true",
            "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
            "REGISTRY_STORAGE_TAG_CONCURRENCYLIMIT": "4",
            "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "inmemory",
        },
        "s3",
        {"bucket": "b"},
        {
            "age": dt.timedelta(minutes=20),
            "dryrun": True,
            "readonly": True,
            "delete": True,
            "redirect_disable": True,
            "tag": 4,
            "blobdescriptor": "inmemory",
        },
    ),
    EnvCase(
        # Upstream ignores the variable (with a warning) when the YAML has it.
        "maintenance-over-yaml-section",
        S3_YAML,
        {
            "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "1h30m",
            "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "false",
        },
        "s3",
        {"bucket": "yaml-bucket", "region": "us-east-1"},
        {"age": dt.timedelta(minutes=90), "readonly": False, "delete": True},
    ),
    EnvCase(
        "unrelated-variables-ignored",
        "storage:\n  s3:\n    bucket: b\n",
        {
            "REGISTRY_HTTP_ADDR": ":5000",
            "REGISTRY_MIDDLEWARE_REGISTRY_0_NAME": "x",
            "REGISTRY_STORAGEX": "y",
            "HOME": "/root",
        },
        "s3",
        {"bucket": "b"},
    ),
]


@pytest.mark.parametrize("case", ENV_CASES, ids=[c.ident for c in ENV_CASES])
def test_environment(case: EnvCase, stand_ins: DriverRegistry) -> None:
    config = _load(case.text, stand_ins, case.environ)
    assert config.driver == case.driver
    assert config.parameters == case.parameters
    check = case.check
    purging = config.maintenance.uploadpurging
    actual = {
        "delete": config.delete.enabled,
        "readonly": config.maintenance.readonly.enabled,
        "redirect_disable": config.redirect.disable,
        "age": purging.age,
        "dryrun": purging.dryrun,
        "tag": config.tag.concurrencylimit,
        "blobdescriptor": config.cache.blobdescriptor,
    }
    for key, expected in check.items():
        assert actual[key] == expected, key


def test_environment_parameters_are_accepted_by_the_declarations(
    stand_ins: DriverRegistry,
) -> None:
    # What the variables produce passes the drivers' own checks.
    from regstore.params import coerce_params

    for case in ENV_CASES:
        config = _load(case.text, stand_ins, case.environ)
        declared = stand_ins.spec(config.driver).parameters
        parameters = dict(config.parameters)
        if config.driver == "s3":
            parameters.setdefault("bucket", "b")
        coerce_params(config.driver, declared, parameters)


def test_unknown_spec_falls_back_to_lowercase_keys(bare: DriverRegistry) -> None:
    config = _load(
        "storage:\n  azure:\n    accountname: a\n",
        bare,
        {"REGISTRY_STORAGE_AZURE_ACCOUNTKEY": "k", "REGISTRY_STORAGE_AZURE_MAXRETRIES": "3"},
    )
    assert config.parameters == {"accountname": "a", "accountkey": "k", "maxretries": 3}


def test_variables_apply_in_sorted_order(stand_ins: DriverRegistry) -> None:
    # Given in reverse; REGISTRY_STORAGE must still come first or it would
    # drop the parameter set after it.
    environ = {"REGISTRY_STORAGE_S3_BUCKET": "b", "REGISTRY_STORAGE": "s3"}
    config = _load("storage:\n  filesystem: {}\n", stand_ins, environ)
    assert (config.driver, config.parameters) == ("s3", {"bucket": "b"})


@pytest.mark.parametrize(
    ("text", "environ", "words"),
    [
        (
            "storage:\n  filesystem:\n    rootdirectory: /srv\n",
            {"REGISTRY_STORAGE_S3_BUCKET": "b"},
            ["REGISTRY_STORAGE_S3_BUCKET", "'s3'", "'filesystem'", "REGISTRY_STORAGE=s3"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_AZURE_CREDENTIALS_TYPE": "x"},
            ["REGISTRY_STORAGE_AZURE_CREDENTIALS_TYPE", "'azure'", "'s3'"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_S3_BUKET": "b"},
            ["REGISTRY_STORAGE_S3_BUKET", "'s3'", "no parameter 'buket'", "bucket"],
        ),
        (
            "storage:\n  azure:\n    accountname: a\n",
            {"REGISTRY_STORAGE_AZURE_CREDENTIALS_PASSWORD": "x"},
            ["REGISTRY_STORAGE_AZURE_CREDENTIALS_PASSWORD", "no field 'password'", "clientid"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_S3": "x"},
            ["REGISTRY_STORAGE_S3", "no parameter"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE": "true"},
            ["REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLE", "'enable'", "enabled"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING": "x"},
            ["REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING", "section"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_DELETE": "x"},
            ["REGISTRY_STORAGE_DELETE", "no setting"],
        ),
        (
            "storage:\n  s3:\n    bucket: b\n",
            {"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "a week"},
            ["uploadpurging.age", "'a week'"],
        ),
        ("version: 0.1\n", {"REGISTRY_STORAGE": "[s3]"}, ["REGISTRY_STORAGE", "not a driver"]),
        (
            "version: 0.1\n",
            {"REGISTRY_STORAGE_NOSUCH_KEY": "v"},
            ["REGISTRY_STORAGE_NOSUCH_KEY", "no installed driver", "azure, filesystem"],
        ),
    ],
)
def test_environment_errors(
    text: str, environ: dict[str, str], words: list[str], stand_ins: DriverRegistry
) -> None:
    err = _error(text, stand_ins, environ)
    for word in words:
        assert word in str(err)


def test_variable_for_uninstalled_other_driver_names_both(bare: DriverRegistry) -> None:
    # With no spec to match against, the other driver's name is read up to
    # the first `_`; the message still names both drivers.
    err = _error("storage:\n  filesystem: {}\n", bare, {"REGISTRY_STORAGE_S3_BUCKET": "b"})
    for word in ("REGISTRY_STORAGE_S3_BUCKET", "'s3'", "'filesystem'", "REGISTRY_STORAGE=s3"):
        assert word in str(err)


def test_secret_values_never_in_errors(stand_ins: DriverRegistry) -> None:
    cases: list[tuple[str, dict[str, str]]] = [
        ("storage:\n  s3:\n    bucket: b\n", {"REGISTRY_STORAGE_S3_SECRETKY": SECRET}),
        ("storage:\n  filesystem: {}\n", {"REGISTRY_STORAGE_AZURE_ACCOUNTKEY": SECRET}),
        (
            "storage:\n  azure: {}\n",
            {"REGISTRY_STORAGE_AZURE_CREDENTIALS_SECRETT": SECRET},
        ),
        (f"storage:\n  s3:\n    secretkey: {SECRET}\n  gcs: {{}}\n", {}),
    ]
    for text, environ in cases:
        assert SECRET not in str(_error(text, stand_ins, environ))


# -- middleware from the environment ---------------------------------------------------


def test_middleware_from_environment(bare: DriverRegistry) -> None:
    environ = {
        "REGISTRY_MIDDLEWARE_STORAGE_0_NAME": "redirect",
        "REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_BASEURL": "https://cdn.example/x",
        "REGISTRY_MIDDLEWARE_STORAGE_1_NAME": "rewrite",
        "REGISTRY_MIDDLEWARE_STORAGE_1_OPTIONS_HOST": "b.example",
        "REGISTRY_MIDDLEWARE_STORAGE_1_DISABLED": "true",
    }
    config = _load("storage: inmemory\n", bare, environ)
    assert config.middleware == (
        MiddlewareEntry("redirect", {"baseurl": "https://cdn.example/x"}),
        MiddlewareEntry("rewrite", {"host": "b.example"}, disabled=True),
    )


def test_middleware_environment_over_yaml(bare: DriverRegistry) -> None:
    text = """
    storage: inmemory
    middleware:
      storage:
        - name: redirect
          options:
            baseurl: https://yaml.example/
    """
    environ = {
        "REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_BASEURL": "https://env.example/",
        "REGISTRY_MIDDLEWARE_STORAGE_0_DISABLED": "false",
        "REGISTRY_MIDDLEWARE_STORAGE_1_NAME": "rewrite",
    }
    config = _load(text, bare, environ)
    assert config.middleware == (
        MiddlewareEntry("redirect", {"baseurl": "https://env.example/"}),
        MiddlewareEntry("rewrite"),
    )


def test_middleware_indexes_sort_as_numbers(bare: DriverRegistry) -> None:
    # Lexical order would take ..._10_NAME before ..._2_NAME for a gap.
    environ = {f"REGISTRY_MIDDLEWARE_STORAGE_{i}_NAME": f"m{i}" for i in range(12)}
    config = _load("storage: inmemory\n", bare, environ)
    assert [m.name for m in config.middleware] == [f"m{i}" for i in range(12)]


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"REGISTRY_MIDDLEWARE_STORAGE_1_NAME": "redirect"}, ["_1_NAME", "gap", "next entry is 0"]),
        (
            {"REGISTRY_MIDDLEWARE_STORAGE_0_NAME": "a", "REGISTRY_MIDDLEWARE_STORAGE_2_NAME": "b"},
            ["REGISTRY_MIDDLEWARE_STORAGE_2_NAME", "gap"],
        ),
        ({"REGISTRY_MIDDLEWARE_STORAGE_X_NAME": "a"}, ["REGISTRY_MIDDLEWARE_STORAGE_X_NAME"]),
        ({"REGISTRY_MIDDLEWARE_STORAGE_0_TYPE": "a"}, ["REGISTRY_MIDDLEWARE_STORAGE_0_TYPE"]),
        (
            {"REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_": "a"},
            ["REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_"],
        ),
        (
            {"REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_HOST": "h"},
            ["middleware.storage[0] has no name"],
        ),
        (
            {
                "REGISTRY_MIDDLEWARE_STORAGE_0_NAME": "a",
                "REGISTRY_MIDDLEWARE_STORAGE_0_DISABLED": "1x",
            },
            ["middleware.storage[0].disabled"],
        ),
    ],
)
def test_middleware_environment_errors(
    environ: dict[str, str], words: list[str], bare: DriverRegistry
) -> None:
    err = _error("storage: inmemory\n", bare, environ)
    for word in words:
        assert word in str(err)


# -- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("168h", dt.timedelta(hours=168)),
        ("24h", dt.timedelta(days=1)),
        ("20m", dt.timedelta(minutes=20)),
        ("1h30m", dt.timedelta(hours=1, minutes=30)),
        ("500ms", dt.timedelta(milliseconds=500)),
        ("3000s", dt.timedelta(seconds=3000)),
        ("1.5h", dt.timedelta(minutes=90)),
        (".5s", dt.timedelta(milliseconds=500)),
        ("10us", dt.timedelta(microseconds=10)),
        ("10µs", dt.timedelta(microseconds=10)),
        ("2000ns", dt.timedelta(microseconds=2)),
        ("0", dt.timedelta(0)),
        (" 20m ", dt.timedelta(minutes=20)),
        (3_600_000_000_000, dt.timedelta(hours=1)),
        ("604800000000000", dt.timedelta(hours=168)),
        (0, dt.timedelta(0)),
        (dt.timedelta(seconds=5), dt.timedelta(seconds=5)),
    ],
)
def test_parse_duration(value: object, expected: dt.timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "h",
        "20",
        "1x",
        "20 m",
        "1h 30m",
        "-1h",
        "+5m",
        "1d",
        "²",
        "٣h",
        True,
        1.5,
        -5,
        None,
        [1],
    ],
)
def test_parse_duration_rejects(value: object) -> None:
    if value == "20":  # digits alone are nanoseconds, as upstream
        assert parse_duration(value) == dt.timedelta(microseconds=0.02)
        return
    with pytest.raises(ConfigError) as caught:
        parse_duration(value, what="storage.maintenance.uploadpurging.age")
    assert str(caught.value).startswith("storage.maintenance.uploadpurging.age: ")


@pytest.mark.parametrize("value", [10**30, "9999999999999999h", str(10**30)])
def test_parse_duration_too_long_is_a_config_error(value: object) -> None:
    # Was an OverflowError from timedelta.
    with pytest.raises(ConfigError, match="too long"):
        parse_duration(value)


def test_durations_in_yaml(bare: DriverRegistry) -> None:
    text = """
    storage:
      inmemory:
      maintenance:
        uploadpurging:
          age: 3600000000000
          interval: 1h30m
    """
    purging = _load(text, bare).maintenance.uploadpurging
    assert (purging.age, purging.interval) == (dt.timedelta(hours=1), dt.timedelta(minutes=90))
    err = _error(text.replace("1h30m", "90 minutes"), bare)
    assert "uploadpurging.interval" in str(err)
    assert "'90 minutes'" in str(err)


# -- shown() ----------------------------------------------------------------------


def test_shown_redacts_secrets(stand_ins: DriverRegistry, bare: DriverRegistry) -> None:
    text = f"""
    storage:
      s3:
        bucket: b
        accesskey: AKIA{SECRET}
        secretkey: {SECRET}
    middleware:
      storage:
        - name: cloudfront
          options:
            baseurl: https://cf.example/
            privatekey: /keys/{SECRET}.pem
            keypairid: K1
    """
    for registry in (stand_ins, bare):  # declared, and by name alone
        shown = _load(text, registry).shown(registry)
        assert SECRET not in repr(shown)
        assert shown["parameters"] == {"bucket": "b", "accesskey": REDACTED, "secretkey": REDACTED}
        assert shown["middleware"][0]["options"]["privatekey"] == REDACTED
        assert shown["middleware"][0]["options"]["keypairid"] == "K1"
    azure = _load(
        f"storage:\n  azure:\n    accountkey: {SECRET}\n    credentials:\n"
        f"      type: client_secret\n      secret: {SECRET}\n",
        stand_ins,
    ).shown(stand_ins)
    assert SECRET not in repr(azure)
    assert azure["parameters"]["accountkey"] == REDACTED
    gcs = _load(
        f"storage:\n  gcs:\n    credentials:\n      private_key: {SECRET}\n", stand_ins
    ).shown(stand_ins)
    assert gcs["parameters"]["credentials"] == REDACTED


def test_shown_lists_the_settings(bare: DriverRegistry) -> None:
    shown = _load(S3_YAML, bare).shown(bare)
    assert shown["driver"] == "s3"
    assert shown["maintenance"]["readonly"] == {"enabled": True}
    assert shown["maintenance"]["uploadpurging"]["age"] == "2:00:00"
    assert shown["delete"] == {"enabled": True}
    assert shown["redirect"] == {"disable": True}
    assert shown["tag"] == {"concurrencylimit": None}


# -- the CLI's --config ----------------------------------------------------------------


def _has_filesystem() -> bool:
    try:
        import regstore_filesystem  # noqa: F401
    except ImportError:
        return False
    return True


needs_filesystem = pytest.mark.skipif(
    not _has_filesystem(), reason="the filesystem plugin is not installed"
)


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def no_registry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads os.environ: keep the runner's REGISTRY_* out."""
    import os

    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def upload_store(tmp_path: pathlib.Path, no_registry_env: None) -> pathlib.Path:
    """A filesystem root holding one abandoned upload."""
    pytest.importorskip("regstore_filesystem", reason="the filesystem plugin is not installed")
    root = tmp_path / "root"
    driver = load_config(
        {"storage": {"filesystem": {"rootdirectory": str(root)}}}, environ={}
    ).create()
    writer = driver.writer("/docker/upload")
    writer.write(b"partial")
    writer.close()
    assert len(list(driver.list_uploads())) == 1
    return root


def _purging_config(tmp_path: pathlib.Path, root: pathlib.Path, age: str, dryrun: bool) -> str:
    return str(
        _write(
            tmp_path / "config.yml",
            f"""
            version: 0.1
            storage:
              filesystem:
                rootdirectory: {root}
              maintenance:
                uploadpurging:
                  enabled: true
                  age: {age}
                  interval: 24h
                  dryrun: {str(dryrun).lower()}
            """,
        )
    )


def test_purge_uploads_defaults_from_config(
    tmp_path: pathlib.Path, upload_store: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regstore.cli import main

    # age 2h: the fresh upload stays; the age shown is the configured one.
    config = _purging_config(tmp_path, upload_store, "2h", dryrun=False)
    assert main(["purge-uploads", "--config", config]) == 0
    assert capsys.readouterr().out.strip() == "filesystem: purged 0 upload(s) untouched for 2:00:00"
    # age 0s and dryrun: true: listed, not purged.
    config = _purging_config(tmp_path, upload_store, "0s", dryrun=True)
    assert main(["purge-uploads", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "filesystem: would purge 1 upload(s) untouched for 0:00:00" in out
    assert main(["uploads", "--config", config]) == 0
    assert "filesystem: 1 upload(s) in flight" in capsys.readouterr().out
    # A flag given wins over the configuration.
    assert main(["purge-uploads", "--config", config, "--no-dry-run"]) == 0
    assert capsys.readouterr().out.strip() == "filesystem: purged 1 upload(s) untouched for 0:00:00"
    assert main(["uploads", "--config", config]) == 0
    assert "filesystem: 0 upload(s) in flight" in capsys.readouterr().out


def test_uploads_config_reads_the_environment(
    tmp_path: pathlib.Path,
    upload_store: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from regstore.cli import main

    config = _purging_config(tmp_path, tmp_path / "elsewhere", "2h", dryrun=False)
    assert main(["uploads", "--config", config]) == 0
    assert "filesystem: 0 upload(s) in flight" in capsys.readouterr().out
    monkeypatch.setenv("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", str(upload_store))
    assert main(["uploads", "--config", config, "--json"]) == 0
    assert '"size": 7' in capsys.readouterr().out
    # and the maintenance keys, with no such YAML section
    monkeypatch.setenv("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true")
    assert main(["purge-uploads", "--config", config, "--older-than", "0s"]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err
    assert "purge_uploads" in err


def test_name_must_match_config(
    tmp_path: pathlib.Path, no_registry_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from regstore.cli import main

    config = str(_write(tmp_path / "config.yml", "storage: inmemory\n"))
    for command in ("uploads", "purge-uploads", "bench", "check"):
        assert main([command, "filesystem", "--config", config]) == 2
        err = capsys.readouterr().err
        assert f"driver 'filesystem' does not match the driver of {config} ('inmemory')" in err


def test_missing_config_file(
    tmp_path: pathlib.Path, no_registry_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from regstore.cli import main

    for name in ("nothere.yml", "prod:nothere.yml"):
        missing = str(tmp_path / name)
        for command in ("uploads", "purge-uploads", "check"):
            assert main([command, "--config", missing]) == 2
            err = capsys.readouterr().err
            assert f"error: {missing}: cannot read the configuration" in err


def test_config_errors_exit_2(
    tmp_path: pathlib.Path, no_registry_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from regstore.cli import main

    cases = {
        "storage:\n  inmemory:\n  s3:\n    bucket: b\n": "more than one driver",
        "storage: inmemory\nmiddleware:\n  storage:\n    - name: nosuchmw\n": "'nosuchmw'",
        "storage: inmemory\nmiddleware:\n  storage:\n    - name: redirect\n": "'baseurl'",
        "storage:\n  inmemory:\n    colour: blue\n": "'colour'",
        "storage: [\n": "line 2",
    }
    for text, words in cases.items():
        config = str(_write(tmp_path / "config.yml", text))
        for command in ("uploads", "check"):
            assert main([command, "--config", config]) == 2, (text, command)
            assert words in capsys.readouterr().err
    # A disabled entry is not looked up.
    config = str(
        _write(
            tmp_path / "config.yml",
            "storage: inmemory\nmiddleware:\n  storage:\n    - name: nosuchmw\n"
            "      disabled: true\n",
        )
    )
    assert main(["purge-uploads", "--config", config, "--dry-run"]) == 2
    assert "keeps no uploads" in capsys.readouterr().err  # got as far as the driver


def test_check_and_bench_refuse_readonly(
    tmp_path: pathlib.Path, no_registry_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from regstore.cli import main

    config = str(
        _write(
            tmp_path / "c.yml",
            "storage:\n  inmemory:\n  maintenance: {readonly: {enabled: true}}\n",
        )
    )
    for command in ("check", "bench"):
        assert main([command, "--config", config]) == 2
        err = capsys.readouterr().err
        assert f"error: {config} sets storage.maintenance.readonly.enabled" in err
        assert "read-only" in err


def _run_cli(*args: str, extra_path: pathlib.Path | None = None, **environ: str) -> Any:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.pop("PYTEST_ADDOPTS", None)
    env.update(environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(extra_path), env.get("PYTHONPATH", "")) if p
        )
    code = "import sys; from regstore.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=str(extra_path or pathlib.Path.cwd()),
        timeout=600,
    )


@needs_filesystem
def test_check_config_filesystem_with_rewrite(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    config = _write(
        tmp_path / "config.yml",
        f"""
        version: 0.1
        storage:
          filesystem:
            rootdirectory: {tmp_path}/yaml-root
        middleware:
          storage:
            - name: rewrite
              options:
                scheme: https
                host: cdn.example
            - name: notinstalled
              disabled: true
        """,
    )
    # The environment overrides the YAML's root, as for the registry.
    proc = _run_cli(
        "check", "--config", str(config), REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(root)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        f"checking filesystem (short mode, config {config}, middleware rewrite) "
        f"with rootdirectory={root}"
    )
    passed, failed = (int(part.split()[0]) for part in lines[-1].split(", ")[:2])
    assert failed == 0
    assert passed > 100
    assert list(root.iterdir()) == []  # the suite cleaned up after itself
    assert not (tmp_path / "yaml-root").exists()


def test_check_config_never_prints_secrets(
    tmp_path: pathlib.Path, installed_fakes: pathlib.Path
) -> None:
    config = _write(
        tmp_path / "config.yml",
        f"""
        storage:
          brokenfake:
            secretkey: {SECRET}
        """,
    )
    for environ in ({}, {"REGISTRY_STORAGE_BROKENFAKE_SECRETKEY": SECRET + "-env"}):
        proc = _run_cli(
            "check",
            "--config",
            str(config),
            "-k",
            "test_invalid_paths",
            extra_path=installed_fakes,
            **environ,
        )
        output = proc.stdout + proc.stderr
        assert SECRET not in output
        assert proc.stdout.splitlines()[0].endswith("with secretkey=***"), output


def test_driver_whose_plugin_fails_to_load_still_parses(fake_env: FakeEnvironment) -> None:
    # Was the plugin's import error out of load_config: the spec is only
    # needed to match variables, so parsing falls back as for an unknown one.
    module = fake_env.module("crashing", "raise RuntimeError('plugin exploded')\n")
    fake_env.distribution("regstore-crashing", {"crashing": module})
    registry = DriverRegistry(load_hooks=False)
    config = _load(
        "storage:\n  crashing:\n    region: here\n",
        registry,
        {"REGISTRY_STORAGE_CRASHING_MAX_RETRIES": "3"},
    )
    assert config.parameters == {"region": "here", "max_retries": 3}
    with pytest.raises(RegstoreError, match="plugin exploded"):
        config.create(registry)
