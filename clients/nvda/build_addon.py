"""Pack the NVDA add-on: ``python clients/nvda/build_addon.py [OUT]`` writes parley-<version>.nvda-addon
(a zip of addon/, manifest.ini at its root), which NVDA installs from its Add-on store dialog
("Install from external source") or by opening the file."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ADDON = Path(__file__).resolve().parent / "addon"


def build(out_dir: Path) -> Path:
    version = next(
        ln.split("=", 1)[1].strip()
        for ln in (ADDON / "manifest.ini").read_text(encoding="utf-8").splitlines()
        if ln.startswith("version")
    )
    out = out_dir / f"parley-{version}.nvda-addon"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(ADDON.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f.relative_to(ADDON).as_posix())
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
