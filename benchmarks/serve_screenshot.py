"""Screenshot of the ``imagebind-lite serve`` page (the README figure), taken in headless Chromium.

Starts ``imagebind-lite serve`` on a free loopback port, types a query, ticks the modality
filters, waits until every picture and player has loaded and saves the page. Needs Selenium and
Debian's ``chromium`` + ``chromium-driver``.

    imagebind-lite demo --quick --out /tmp/dq
    python benchmarks/serve_screenshot.py --model /tmp/dq/model --index /tmp/dq/index \\
        --text "the sound of a dog" --modality audio vision depth thermal imu \\
        --out benchmarks/figures/serve_page.png
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, process, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/api/health", timeout=2).read()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("imagebind-lite serve did not start")
            time.sleep(0.3)


def browser(profile: Path, width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    for flag in FLAGS + (f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def capture(base: str, args) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser(Path(tempfile.mkdtemp(prefix="serve-shot-")), args.width, args.height)
    try:
        driver.get(base + "/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#filters input"))
        for box in driver.find_elements(By.CSS_SELECTOR, "#filters input"):
            if (box.get_attribute("value") in args.modality) != box.is_selected():
                box.click()
        Select(driver.find_element(By.ID, "k")).select_by_visible_text(str(args.k))
        driver.find_element(By.ID, "text").send_keys(args.text)
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "status").get_attribute("data-done"))
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0) && "
            "[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)"))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(args.width, min(max(height + 160, 600), 2600))  # + the window frame
        time.sleep(0.5)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    finally:
        driver.quit()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--text", default="the sound of a dog")
    p.add_argument("--modality", nargs="*", default=[], help="filters to tick (none: every modality)")
    p.add_argument("-k", type=int, default=12, choices=(6, 12, 24, 48))
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=900)
    p.add_argument("--out", type=Path, default=Path("benchmarks/figures/serve_page.png"))
    args = p.parse_args(argv)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "imagebind_lite.cli", "serve", "--model", str(args.model),
                                "--index", str(args.index), "--port", str(port), "--log-level", "warning"])
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        capture(f"http://127.0.0.1:{port}", args)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
