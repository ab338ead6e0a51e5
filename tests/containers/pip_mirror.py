"""Test-only: this machine's local pip mirrors, served over HTTP on 127.0.0.1 to the image builds.

The development and CI machines hold most wheels of requirements.lock on disk, as `file://` indexes and
find-links folders in their pip configuration (`pip config list`); everything else comes from PyPI through a
TLS-intercepting proxy. A container build cannot open the host's folders, so this serves them over HTTP and
writes the pip.conf a build gets through MUBENCH_BUILD_PIP_CONF (containers/build.sh): the local mirrors first,
then the host's other indexes (PyPI by default). A site with its own HTTP(S) mirror writes that pip.conf by hand.

    python3 tests/containers/pip_mirror.py PIP_CONF   # serves until stopped; PIP_CONF appears once it listens
"""

from __future__ import annotations

import functools
import shlex
import subprocess
import sys
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PYPI = "https://pypi.org/simple"


def host_pip_settings() -> dict[str, list[str]]:
    """{"index-url": [...], "extra-index-url": [...], "find-links": [...]} from `pip config list`, every scope."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True,
                            text=True).stdout
    settings: dict[str, list[str]] = {"index-url": [], "extra-index-url": [], "find-links": []}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        if name in settings:
            settings[name] += [v for v in shlex.split(value)[0].split() if v not in settings[name]]
    return settings


def local_path(location: str) -> Path | None:
    """The folder behind a file:// URL or a plain path; None for a remote index."""
    if location.startswith("file://"):
        return Path(location[len("file://"):])
    return Path(location) if location.startswith("/") else None


def serve(pip_conf: Path) -> None:
    settings = host_pip_settings()
    root = Path(tempfile.mkdtemp(prefix="mubench-pip-mirror-"))
    indexes, links, remote = [], [], []
    for key in ("index-url", "extra-index-url", "find-links"):
        for location in settings[key]:
            folder = local_path(location)
            if folder is None:
                (remote if key != "find-links" else links).append(location)
            elif folder.is_dir():
                # an index's pages link to ../../files/: serve its parent, so those links resolve
                served = folder.parent if key != "find-links" else folder
                alias = f"m{len(indexes) + len(links)}"
                (root / alias).symlink_to(served)
                (indexes if key != "find-links" else links).append(
                    f"{alias}/{folder.name}" if key != "find-links" else f"{alias}/")
    if not settings["index-url"] or all(local_path(u) for u in settings["index-url"]):
        remote.append(PYPI)  # pip's default index, unless the host replaced it with a remote one
    handler = functools.partial(QuietHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        served = [base + path for path in indexes]
        urls = served + remote
        body = ["[global]", f"index-url = {urls[0]}"]
        if urls[1:]:
            body.append(f"extra-index-url = {' '.join(urls[1:])}")
        if links:
            body.append(f"find-links = {' '.join(base + l if not l.startswith('http') else l for l in links)}")
        body.append(f"trusted-host = 127.0.0.1:{server.server_address[1]}")
        partial = pip_conf.with_suffix(".partial")
        partial.write_text("\n".join(body) + "\n")
        partial.rename(pip_conf)
        print(f"pip_mirror.py: serving {len(indexes)} local index(es) and {len(links)} find-links folder(s) at "
              f"{base}", flush=True)
        server.serve_forever()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    serve(Path(sys.argv[1]))
