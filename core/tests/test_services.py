"""regstore.testing.services: start, readiness, failure report, stop."""

from __future__ import annotations

import sys
import urllib.request

import pytest

from regstore.testing.services import start_service


def _http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]


def test_service_is_ready_on_loopback_and_stops_with_its_group() -> None:
    with start_service("http", _http_server) as service:
        assert service.endpoint.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(service.endpoint + "/", timeout=5) as answer:
            assert answer.status == 200
        assert service.process.poll() is None
    assert service.process.poll() is not None


def test_an_error_status_still_means_ready() -> None:
    with start_service("http", _http_server, ready_path="/no-such-file") as service:
        assert service.process.poll() is None


def test_a_service_that_dies_is_reported_with_its_log() -> None:
    def dies(port: int) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import sys; print('boom on', sys.argv[1]); sys.exit(3)",
            str(port),
        ]

    with pytest.raises(RuntimeError, match=r"(?s)exited with 3.*boom on"):
        start_service("dying", dies)
