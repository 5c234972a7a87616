"""Ctrl-C stops a run within a second in every method, even inside one long compiled trajectory.

Each case runs in a subprocess that would take minutes and gets SIGINT once
it is inside the compiled loop. KeyboardInterrupt must reach the caller's
code within a second of the signal (the child reports the moment on the
system-wide monotonic clock, so interpreter teardown is not counted), and
the process must then exit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

#: A test runner started as a background job of a non-interactive shell ignores SIGINT, and its children
#: inherit that: each child restores Python's own handler, so what is tested is pycrn's response to it.
DEFAULT_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"

SCRIPT = DEFAULT_SIGINT + """
import sys, time, pycrn
from pycrn import methods
net = {model}
method = {method}
pycrn.simulate(net, method=method, trajectories=1, seed=1, {warm})  # compile outside the clock
print("ready", flush=True)
try:
    pycrn.simulate(net, method=method, {run})
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
    raise
"""
CASES = {
    # (method, warm-up kwargs, long run): every long run would take minutes.
    "direct": ("'direct'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "sorting_direct": ("'sorting_direct'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "nrm": ("'nrm'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "rssa": ("'rssa'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "direct_cr": ("'direct_cr'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "rssa_cr": ("'rssa_cr'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "extrande": ("'extrande'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "direct-events": ("'direct'", "tspan=(0, 1), save='events'", "params={'kp': 1e3}, tspan=(0, 1e6), save='events'"),
    "tau_leaping": ("methods.TauLeaping(epsilon=1e-4)", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "simple_tau_leaping": ("methods.SimpleTauLeaping(dt=1e-5)", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "batched": ("'batched'", "tspan=(0, 1)", "params={'kp': 1e5}, tspan=(0, 1e5)"),
    "two-threads": ("'direct'", "tspan=(0, 1)", "params={'kp': 1e4}, tspan=(0, 1e4), trajectories=4, threads=2"),
}


def seconds_to_interrupt(script, wait: float, timeout: float = 30) -> float:
    """Run ``script`` (it prints ``ready``, then ``interrupted <monotonic time>`` on KeyboardInterrupt), send it
    SIGINT ``wait`` seconds after ``ready``, and return the seconds until its KeyboardInterrupt."""
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    time.sleep(wait)  # well inside the compiled loop
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err, err[-2000:]
    word, stamp = out.split()
    assert word == "interrupted"
    return float(stamp) - sent


#: These run the loops of direct, rssa and tau-leaping (checked in CI); their own compile is slow-suite work.
#: batched's (60 s on CI's machine, two compilations in a fresh process) too: its loop checks the same
#: stop flag every RESUM batches, and test_bad_input runs its runaways to their end in CI.
SLOW = {"sorting_direct", "direct_cr", "rssa_cr", "simple_tau_leaping", "batched"}


@pytest.mark.parametrize("case", [c if c not in SLOW else pytest.param(c, marks=pytest.mark.slow) for c in sorted(CASES)])
def test_sigint_stops_a_long_run_within_a_second(case, tmp_path):
    method, warm, long_run = CASES[case]
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(model="pycrn.models.dimerisation()", method=method, warm=warm, run=long_run))
    elapsed = seconds_to_interrupt(script, wait=0.5)
    print(f"{case}: {elapsed * 1000:.0f} ms from SIGINT to KeyboardInterrupt")
    assert elapsed < 1.0, f"{case}: {elapsed:.2f} s from SIGINT to KeyboardInterrupt"



def test_ctrl_c_waits_for_the_kernel_to_return(tmp_path):
    # interruptible sets the stop flag and must then wait for the kernel: on Python 3.11 a Thread.join() after an
    # interrupted join(timeout) returned at once, leaving the kernel running behind the caller's back.
    script = tmp_path / "wait.py"
    script.write_text(DEFAULT_SIGINT + """
import os, threading, time
from pycrn.runner import Stop, interruptible
ended = []
def kernel():  # ignores the stop flag for 1.5 s, as a long compiled step would
    time.sleep(1.5)
    ended.append(time.monotonic())
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    interruptible(kernel, Stop())
except KeyboardInterrupt:
    print("raised", time.monotonic(), ended[0] if ended else "running", flush=True)
""")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    word, raised, ended = out.stdout.split()
    assert word == "raised", out.stderr
    assert ended != "running" and float(ended) <= float(raised)


@pytest.mark.parametrize("method", ["deep_is", "deep_cv"])
def test_sigint_stops_a_long_deepska_estimate_within_a_second(method, tmp_path):
    pytest.importorskip("torch")
    # Each path fires about 1e8 reactions between two states: minutes of compiled work for 20 samples, in one
    # kernel call once the two states' features are known.
    script = tmp_path / "run.py"
    script.write_text(
        DEFAULT_SIGINT
        + "import time, warnings, pycrn\nfrom pycrn import deepska\nwarnings.simplefilter('ignore')\n"
        "net = pycrn.parse('@parameters k=1e8\\n@species A=1 B=0\\nk, A --> B\\nk, B --> A\\n')\n"
        "sd = deepska.SDnet(net, ['A'], modes=2, steady=[0.5])\n"
        # DeepIS's own kernel, not the plain SSA pilot that seeds its feature table.
        + ("import numpy as np\nfrom pycrn.deepska import estimators\n"
           "estimators.simulate_paths = lambda net, x0, T, seq, first, count: [(np.zeros(1), x0[None])]\n"
           if method == "deep_is" else "") +
        f"deepska.estimate(net, sd, {{'A': 1, 'B': 0}}, [1e-6], 2, {method!r}, seed=0)  # compile outside the clock\n"
        "print('ready', flush=True)\n"
        "try:\n"
        f"    deepska.estimate(net, sd, {{'A': 1, 'B': 0}}, [1.0], 20, {method!r}, seed=0)\n"
        "    print('finished', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', time.monotonic(), flush=True)\n"
        "    raise\n"
    )
    assert seconds_to_interrupt(script, wait=1.0, timeout=60) < 1.0
