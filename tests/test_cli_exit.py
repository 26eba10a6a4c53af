"""The ``imagebind-lite`` script skips the interpreter's teardown, never what a command left to do.

Exit handlers still run (logging, multiprocessing's reaping of workers), the exit code is the
command's, buffered output is flushed, and a command that leaves a non-daemon thread running
exits the normal way, which waits for it.
"""
from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
atexit.register(lambda: print("exit handler ran"))
if len(sys.argv) > 2:
    marker = Path(sys.argv[2])
    def finish():
        time.sleep(1.0)
        marker.write_text("finished")
    threading.Thread(target=finish).start()
sys.stdout.write("buffered, not yet flushed; ")
sys.argv = ["imagebind-lite", sys.argv[1]]
from imagebind_lite.cli import console_main
console_main()
"""


def _run(*args):
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=300)


def test_exit_handlers_run_and_buffered_output_is_flushed():
    result = _run("modalities")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "buffered, not yet flushed" in result.stdout and "audio" in result.stdout
    assert result.stdout.rstrip().endswith("exit handler ran")


def test_the_exit_code_is_the_commands():
    result = _run("no-such-command")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_running_non_daemon_thread_is_waited_for(tmp_path):
    marker = tmp_path / "marker"
    result = _run("modalities", str(marker))
    assert result.returncode == 0, result.stderr[-2000:]
    assert marker.read_text() == "finished"
