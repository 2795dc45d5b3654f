"""Stand-in for ``google.colab.files``: downloads are recorded, uploads are not possible."""

from __future__ import annotations

import os

downloaded: list[str] = []


def download(filename: str) -> None:
    """Colab pushes the file to the browser; here we only check it exists and record it."""
    if not os.path.exists(filename):
        raise FileNotFoundError(f"Cannot find file: {filename}")
    downloaded.append(os.path.abspath(filename))


def upload(*args, **kwargs):
    raise NotImplementedError("google.colab.files.upload needs a browser; not simulated")
