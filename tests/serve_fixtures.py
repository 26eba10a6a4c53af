"""A small served world for the serving tests: files of six modalities, a tiny model, an index,
and a way to run ``imagebind-lite serve`` as a real process on a free loopback port."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch

from imagebind_lite import MultiModalModel
from imagebind_lite.data.world import SyntheticWorld, WorldConfig, write_world
from imagebind_lite.demo.showcase import build_index

MODALITIES = ["vision", "text", "audio", "depth", "thermal", "imu"]
N = 6


def build_served_world(root: Path) -> dict:
    """World files (``N`` eval rows), a tiny six-modality model and the index of its embeddings."""
    paths = write_world(SyntheticWorld(WorldConfig(image_size=32)), root / "world", sizes={"eval": N},
                        progress=False)
    torch.manual_seed(0)
    model = MultiModalModel.from_presets({m: "tiny" for m in MODALITIES})
    model.save(root / "model")
    rows = list(csv.DictReader(paths["eval"].read_text().splitlines()))
    items = {m: [r[m] if m == "text" else paths["eval"].parent / r[m] for r in rows] for m in MODALITIES}
    embeddings = model.eval().embed(items)
    build_index(embeddings, paths["eval"], root / "index")
    files = {m: [paths["eval"].parent / r[m] for r in rows] for m in MODALITIES if m != "text"}
    return {"root": root, "model": root / "model", "index": root / "index", "files": files, "rows": rows,
            "texts": items["text"], "embeddings": embeddings}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 30.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def serve_process(model: Path, index: Path, *extra: str, startup_s: float = 180.0):
    """``imagebind-lite serve`` in a subprocess on a free port; yields ``(base url, process)``."""
    port = free_port()
    command = [sys.executable, "-m", "imagebind_lite.cli", "serve", "--model", str(model), "--index", str(index),
               "--port", str(port), "--log-level", "warning", *extra]
    log = open(index.parent / f"serve-{port}.log", "w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"serve exited with {process.returncode}:\n{log.read()[-3000:]}")
            try:
                if get_json(base + "/api/health", timeout=2)["status"] == "ok":
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base, process
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")


def chromium_paths():
    """``(browser, driver)`` of a system Chromium and its chromedriver, or None when either is missing."""
    import shutil

    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def chromium(profile_dir: Path):
    """A headless Chromium session (Selenium) with a fresh profile, for a machine without network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = chromium_paths()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for downloads
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile_dir}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
