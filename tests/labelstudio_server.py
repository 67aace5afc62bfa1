"""A real Label Studio server for the tests: its own venv, sqlite, loopback, no prompts.

``scripts/labelstudio-env.sh`` makes ``.venv-labelstudio/`` once. The first start migrates a
template data dir inside that venv (25-100 s); every later start copies that template and is up in a
few seconds. Only processes started here are ever stopped, by their own process group.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-labelstudio"
BINARY = VENV / "bin" / "label-studio"
VERSION = "1.23.2"
#: Kept with the server's venv (it depends on the server's version), so `make clean` keeps it too.
CACHE = VENV / f"template-data-{VERSION}"

USERNAME = "curator-admin@example.com"
PASSWORD = "curator-test-password"
#: A fixed legacy token for the admin (set when the organisation is first created, in the template).
TOKEN = "curator-test-token-0123456789"


def ensure_env() -> Path:
    """The server's venv, created by the project's script when it is missing."""
    if not BINARY.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "labelstudio-env.sh")], check=True, cwd=REPO)
    return BINARY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, files_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "DJANGO_DB": "sqlite",
        "DATABASE_NAME": str(data_dir / "label_studio.sqlite3"),
        "LABEL_STUDIO_USERNAME": USERNAME,
        "LABEL_STUDIO_PASSWORD": PASSWORD,
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(files_root),
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
    })
    return env


class Server:
    """One ``label-studio start`` process on a data dir; ``kill`` and ``start`` again keep its data."""

    def __init__(self, data_dir: Path, files_root: Path, port: int | None = None) -> None:
        self.data_dir, self.files_root = Path(data_dir), Path(files_root)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    token = TOKEN

    def start(self, timeout: float = 120.0) -> "Server":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        cmd = [str(ensure_env()), "start", "--no-browser", "--internal-host", "127.0.0.1",
               "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "WARNING"]
        self.proc = subprocess.Popen(cmd, env=server_env(self.data_dir, self.files_root), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.data_dir)
        log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.proc.returncode}; see {self.data_dir}/server.log")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if json.loads(resp.read()).get("status") == "UP":
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"label-studio was not up within {timeout:.0f} s; see {self.data_dir}/server.log")

    def kill(self) -> None:
        """SIGKILL the server's own process group (a crash, not a clean stop)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        proc = self.proc  # a kill from a timer thread must not forget a process started since
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        if self.proc is proc:
            self.proc = None


def template(files_root: Path) -> Path:
    """A data dir migrated once, with the admin and its token; built under a lock, then reused."""
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / f"{CACHE.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (CACHE / ".ready").exists():
            return CACHE
        shutil.rmtree(CACHE, ignore_errors=True)
        building = CACHE.with_name(CACHE.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        server = Server(building, files_root).start(timeout=300)
        server.stop()
        (building / "server.log").unlink(missing_ok=True)
        (building / ".ready").touch()
        building.rename(CACHE)
    return CACHE


def start_server(workdir: Path, files_root: Path) -> Server:
    """A fresh server on a copy of the template, serving local files under ``files_root``."""
    data_dir = Path(workdir) / "labelstudio-data"
    shutil.copytree(template(files_root), data_dir)
    return Server(data_dir, files_root).start()
