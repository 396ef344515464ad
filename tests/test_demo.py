"""`paved demo`: from nothing to the sandbox organisation served on loopback and the
dashboard answering on 127.0.0.1, then stopped cleanly with its dashboard process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_sandbox_and_the_dashboard_on_loopback(
    tmp_path: Path, small_world: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PAVED_HOME": str(tmp_path / "home"),
        "PAVED_SANDBOX_DIR": str(small_world.parent),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pipelines.cli import main; main()",
            "demo",
            "--scale",
            "small",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        # Streamlit prints its URL once it listens: read until then, no sleeping.
        for line in process.stdout:
            seen.append(line)
            if f"127.0.0.1:{port}" in line and "URL" in line:
                break
        else:
            raise AssertionError("the demo ended before serving:\n" + "".join(seen))
        output = "".join(seen)
        for source in ("github", "argocd", "pagerduty", "typeform", "backstage", "opencost"):
            assert f"  {source}" in output and "http://127.0.0.1:" in output
        response = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30)
        assert response.status_code == 200 and response.text == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # The dashboard process went with it: nothing listens on the port any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
