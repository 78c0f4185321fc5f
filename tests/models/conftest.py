"""Fixtures of the model tests: no test here may reach the network."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any socket connection and unset the download switch, so a download attempt is an error."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted in a model test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("MASKCLS_ALLOW_DOWNLOAD", raising=False)
