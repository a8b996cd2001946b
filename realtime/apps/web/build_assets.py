"""Copy the three.js files the page needs from node_modules into ``static/vendor/``.

Run after ``npm install`` at the repository root (``npm run build`` runs this). The copies are
committed, so a clone serves the page without npm or a network. The addons import the bare
name ``'three'``; the copies import ``./three.module.min.js`` instead, so the page needs no
import map (an inline script its content security policy would have to allow).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
THREE = ROOT / "node_modules" / "three"
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
# source inside the three package -> name in vendor/
FILES = {
    "build/three.module.min.js": "three.module.min.js",
    "build/three.core.min.js": "three.core.min.js",  # three.module.min.js imports it
    "examples/jsm/controls/OrbitControls.js": "OrbitControls.js",
    "examples/jsm/loaders/STLLoader.js": "STLLoader.js",
    "LICENSE": "three.LICENSE.txt",
}
BARE_IMPORT = re.compile(r"""from\s+['"]three['"]""")


def main() -> int:
    if not (THREE / "package.json").exists():
        print(f"build_assets: {THREE} is missing; run 'npm install' in {ROOT} first", file=sys.stderr)
        return 1
    version = json.loads((THREE / "package.json").read_text())["version"]
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, name in FILES.items():
        target = VENDOR / name
        if name.endswith(".js") and not name.startswith("three."):
            target.write_text(BARE_IMPORT.sub("from './three.module.min.js'", (THREE / source).read_text()))
        else:
            shutil.copyfile(THREE / source, target)
    (VENDOR / "VERSION").write_text(f"three {version}\n")
    total = sum((VENDOR / name).stat().st_size for name in FILES.values())
    print(f"build_assets: three {version}, {len(FILES)} files, {total / 1024:.0f} KiB in {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
