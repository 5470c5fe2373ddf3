"""System packages the test suite needs on Debian: headless Chromium (the admin's browser test) and
docker-compose (for the Compose Specification JSON schema it ships).

Installed when missing and when we may (root + apt-get); otherwise the browser test skips with
its reason. Never fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# package -> a file that tells it is installed
PACKAGES = {
    "chromium": "/usr/bin/chromium",
    "docker-compose": "/usr/lib/python3/dist-packages/compose/config/compose_spec.json",
}


def main() -> None:
    missing = [package for package, marker in PACKAGES.items() if not Path(marker).exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(f"test_deps: {', '.join(missing)} missing and cannot be installed here; browser tests will skip")
        return
    print(f"test_deps: installing {', '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"test_deps: could not install {', '.join(missing)} ({exc}); browser tests will skip")


if __name__ == "__main__":
    main()
