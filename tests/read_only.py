"""A folder the current user cannot write in, also when the tests run as root (CI containers).

``chmod 555`` stops an ordinary user; root writes anyway, and ``os.access`` says so. The
destination check asks ``os.access``, so the tests also make it answer as it would for a user:
"not writable" for the folder and everything under it.
"""
from __future__ import annotations

import os

import pytest


def make_read_only(monkeypatch: pytest.MonkeyPatch, folder: str) -> str:
    """Make ``folder`` (created if missing) read-only for the destination checks; returns it."""
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o555)
    access = os.access
    root = os.path.abspath(folder)

    def denied(path, mode, *args, **kwargs):
        inside = os.path.abspath(path) == root or os.path.abspath(path).startswith(root + os.sep)
        if inside and mode & os.W_OK:
            return False
        return access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", denied)
    return folder
