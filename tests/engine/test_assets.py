"""The asset manager on small files made here (a throwaway package, a local npm package)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parley_engine.assets import JoinedFile, NpmFiles, PackageFile, sha256_file
from parley_engine.errors import AssetError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path / "cache"))


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, bytes]) -> None:
    pkg = tmp_path / "site" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for rel, data in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop(name, None)


def _pf(name: str, pkg: str, rel: str, data: bytes) -> PackageFile:
    return PackageFile(name, pkg, f"{pkg}==1.0", rel, hashlib.sha256(data).hexdigest(), len(data))


def test_package_file_verifies_and_detects_damage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"weights" * 1000
    _package(tmp_path, monkeypatch, "parley_test_pkg_a", {"data/model.onnx": data})
    asset = _pf("model", "parley_test_pkg_a", "data/model.onnx", data)
    path = asset.verify()
    assert path.read_bytes() == data

    path.write_bytes(data[:-10])  # truncated
    with pytest.raises(AssetError, match="bytes, expected"):
        asset.verify()
    path.write_bytes(data[:-1] + b"X")  # same size, one byte flipped
    with pytest.raises(AssetError, match="sha256") as e:
        asset.verify()
    assert "pip install --force-reinstall parley_test_pkg_a==1.0" in e.value.message
    path.unlink()
    with pytest.raises(AssetError, match="missing"):
        asset.verify()


def test_package_not_installed_names_the_pip_command() -> None:
    asset = PackageFile("x", "parley_no_such_package", "parley-no-such-package==9", "f.bin", "0" * 64, 1)
    with pytest.raises(AssetError, match="pip install parley-no-such-package==9"):
        asset.verify()


def test_joined_file_is_reassembled_in_order_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [bytes([i]) * (1000 + i) for i in range(3)]
    for i, p in enumerate(parts):
        _package(tmp_path, monkeypatch, f"parley_test_part_{i}", {"part.bin": p})
    whole = b"".join(parts)
    joined = JoinedFile(
        "joined",
        "joined.bin",
        tuple(_pf(f"p{i}", f"parley_test_part_{i}", "part.bin", p) for i, p in enumerate(parts)),
        hashlib.sha256(whole).hexdigest(),
        len(whole),
    )
    with pytest.raises(AssetError, match="parley assets install"):
        joined.verify()
    joined.install()
    assert joined.verify().read_bytes() == whole
    joined.path().write_bytes(whole[::-1])
    with pytest.raises(AssetError):
        joined.verify()
    joined.install()  # repairs
    assert sha256_file(joined.verify()) == joined.sha256


def test_joined_file_refuses_parts_that_do_not_add_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _package(tmp_path, monkeypatch, "parley_test_part_z", {"part.bin": b"abc"})
    part = _pf("pz", "parley_test_part_z", "part.bin", b"abc")
    joined = JoinedFile("joined", "j.bin", (part,), "f" * 64, 3)
    with pytest.raises(AssetError, match="sha256"):
        joined.install()
    assert not joined.path().exists()


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is part of the supported set-up")
def test_npm_files_from_a_local_tarball(tmp_path: Path) -> None:
    src = tmp_path / "voicepack"
    (src / "voices").mkdir(parents=True)
    (src / "package.json").write_text(json.dumps({"name": "parley-test-voicepack", "version": "1.0.0"}))
    (src / "voices" / "a.bin").write_bytes(b"\x01" * 64)
    (src / "voices" / "b.bin").write_bytes(b"\x02" * 32)
    out = tmp_path / "packed"
    out.mkdir()
    subprocess.run(
        ["npm", "pack", str(src), "--silent", "--pack-destination", str(out)], check=True, capture_output=True
    )
    tgz = next(out.glob("*.tgz")).read_bytes()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()

    asset = NpmFiles("pack", str(src), integrity, "package/voices/")
    asset.install()
    assert asset.files() == ["a.bin", "b.bin"]
    assert asset.file("a.bin").read_bytes() == b"\x01" * 64
    asset.file("b.bin").write_bytes(b"\x03" * 32)  # corrupted after install
    with pytest.raises(AssetError, match="sha256"):
        asset.file("b.bin")
    with pytest.raises(AssetError, match="no file"):
        asset.file("c.bin")

    bad = NpmFiles(
        "pack2", str(src) + "/", "sha512-" + base64.b64encode(b"0" * 64).decode(), "package/voices/"
    )
    with pytest.raises(AssetError, match="integrity"):
        bad.install()
