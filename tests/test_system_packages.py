"""The system packages a minimal Linux image needs, checked against what the installed wheels actually link.

The README promises that two commands set everything up on a fresh machine; a wheel that links a system library the
minimal image lacks (opencv-python links libGL and GLib) breaks that promise at `import cv2`. The Dockerfile and
docs/development.md name the Debian packages to install; this test reads the dynamic dependencies of every compiled
module of the runtime dependencies with `ldd`, maps each library outside the virtualenv to its Debian package with
`dpkg -S`, and fails when one is neither in the slim Python base image nor in the Dockerfile's list."""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Runtime libraries of the `python:3.11-slim-bookworm` base image (Debian bookworm's required packages and the
# interpreter's own run-time dependencies): what a minimal image already has.
BASE_IMAGE = {
    "libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libbz2-1.0", "liblzma5", "libssl3", "libffi8", "libsqlite3-0",
    "libuuid1", "libncursesw6", "libtinfo6", "libreadline8", "libexpat1", "libdb5.3", "libgdbm6", "libzstd1",
    "libcrypt1", "libselinux1", "libpcre2-8-0", "libacl1", "libattr1", "libblkid1", "libmount1", "libsystemd0",
    "libgcrypt20", "libgpg-error0", "liblz4-1", "libcap2", "libmd0", "libaudit1", "libpam0g",
}
# Compiled modules of the runtime dependencies that the benchmark imports, as globs under site-packages. opencv's
# Qt platform plugins (cv2/qt, for cv2.imshow windows) link X11 session libraries but are never loaded here.
MODULES = ("cv2/*.so", "opencv_python.libs/*.so*", "av/**/*.so", "h5py/*.so", "zstandard/*.so", "safetensors/*.so",
           "sklearn/**/*.so", "matplotlib/*.so", "skimage/**/*.so", "torch/_C*.so", "torch/lib/libtorch*.so",
           "numpy/_core/*.so", "onnxruntime/capi/*.so", "scipy/linalg/*.so")
QT_PLUGINS = ("libQt5", "libqxcb")


def dockerfile_packages() -> set[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", text)
    assert match, "the Dockerfile has no apt-get install line"
    return set(match.group(1).split())


@functools.cache
def debian_package(path: str) -> str:
    """The Debian package owning a library file ('' if none); /lib is /usr/lib on bookworm, dpkg knows one spelling."""
    for candidate in (path, path.replace("/usr/lib/", "/lib/", 1) if path.startswith("/usr/") else "/usr" + path):
        owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True).stdout
        if owner:
            return owner.split(":")[0]
    return ""


def linked_packages(site: Path) -> dict[str, set[str]]:
    """Debian package -> the libraries of it that a compiled module under `site` links."""
    found: dict[str, set[str]] = {}
    for pattern in MODULES:
        for lib in sorted(site.glob(pattern)):
            if lib.name.startswith(QT_PLUGINS):
                continue
            out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
            for target in re.findall(r"=> (/\S+)", out):
                if target.startswith(str(site.parent.parent.parent)) or "site-packages" in target:
                    continue  # bundled with a wheel
                owner = debian_package(target)
                if owner:
                    found.setdefault(owner, set()).add(Path(target).name)
    return found


def test_dockerfile_and_docs_name_the_same_packages():
    packages = dockerfile_packages()
    assert packages == {"libgl1", "libglib2.0-0"}
    docs = (ROOT / "docs" / "development.md").read_text()
    assert all(f"`{name}`" in docs for name in packages), "docs/development.md must name every system package"


@pytest.mark.skipif(not (shutil.which("ldd") and shutil.which("dpkg")), reason="needs ldd and dpkg (Debian/Ubuntu)")
def test_every_linked_system_library_is_in_the_base_image_or_installed_by_the_dockerfile():
    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and (Path(p) / "cv2").is_dir())
    linked = linked_packages(site)
    assert "libgl1" in linked, f"expected opencv-python to link libGL; found {sorted(linked)}"
    direct = set(linked)
    # Packages that libgl1 and libglib2.0-0 pull in themselves (X11 client libraries, GLVND) are installed with them.
    pulled = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                             "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
                             *sorted(dockerfile_packages())], capture_output=True, text=True).stdout
    with_deps = {line.strip() for line in pulled.splitlines() if line and not line.startswith(" ")}
    missing = direct - BASE_IMAGE - dockerfile_packages() - with_deps
    assert not missing, {name: sorted(linked[name]) for name in missing}
