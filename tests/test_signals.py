"""The CLI's two-stage interrupt handling, on a real process receiving real signals."""
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from u2live.signals import BY

# A command that cleans up slowly, so a second signal can arrive during the cleanup.
SLOW_CLEANUP = textwrap.dedent("""
    import sys, time, click
    from u2live.cli import main

    @main.command()
    def slow():
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            print("cleanup", flush=True)
            time.sleep(float(sys.argv[-1]))
            print("cleaned", flush=True)

    main(["slow"], prog_name="u2live")
""")


def start(cleanup_seconds):
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CLEANUP, str(cleanup_seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_runs_cleanup_then_exits_with_its_code(sig, code):
    proc = start(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert out.split() == ["cleanup", "cleaned"]
    assert err.strip().splitlines()[-1] == f"u2live: stopped by {BY[sig]}"  # not an error
    assert "Traceback" not in err


def test_second_ctrl_c_exits_at_once():
    proc = start(30)
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "cleanup"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "cleaned" not in out
    assert time.monotonic() - started < 10
    assert "exiting now" in err
