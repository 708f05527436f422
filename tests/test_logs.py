"""Quiet runs: library chatter to the run's log file, real problems and the factory's lines on screen."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import logging, os, sys, warnings
    from factory.core import logs
    path = logs.route(sys.argv[1], verbose=sys.argv[2] == "1")
    logging.getLogger("vllm.config").info("non-default args: chatter")
    logging.getLogger("transformers.modeling_utils").warning("per-weight dtype note")
    warnings.warn("a library's deprecation", DeprecationWarning)
    logging.getLogger("vllm.engine").error("the engine really failed")
    with logs.captured():
        os.write(2, b"Loading safetensors checkpoint shards: 100%\\n")
        print("printed inside a noisy phase")
        logging.getLogger("vllm.engine").error("an error while captured")
    print("traces 10/10 (100.0%) | the factory's own line")
""")


def _run(tmp_path, verbose: bool):
    log = tmp_path / "run" / "logs" / "generate.log"
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(log), "1" if verbose else "0"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout + p.stderr, log


def test_chatter_goes_to_the_log_file_and_errors_still_reach_the_screen(tmp_path):
    screen, log = _run(tmp_path, verbose=False)
    text = log.read_text()
    for chatter in ("non-default args: chatter", "per-weight dtype note", "a library's deprecation",
                    "Loading safetensors checkpoint shards", "printed inside a noisy phase"):
        assert chatter in text and chatter not in screen, chatter
    assert "the factory's own line" in screen and "the factory's own line" not in text
    for error in ("the engine really failed", "an error while captured"):  # real problems: both places
        assert error in screen and error in text


def test_verbose_leaves_everything_on_screen(tmp_path):
    screen, log = _run(tmp_path, verbose=True)
    assert not log.exists()
    assert "Loading safetensors checkpoint shards" in screen and "printed inside a noisy phase" in screen
    assert "the engine really failed" in screen


def test_progress_eta_waits_for_a_settled_rate_and_a_resume_counts_only_new_work():
    import io

    from factory.core.progress import Progress

    p = Progress(1000, unit="steps", stream=io.StringIO())
    p.update(1)
    assert p.line().split("ETA ")[1].startswith("?")  # one item carries the start-up
    p.update(20)
    assert not p.line().split("ETA ")[1].startswith("?")
    resumed = Progress(300, unit="steps", initial=200, stream=io.StringIO())
    resumed.note = "loss 0.5000"
    assert resumed.line().startswith("steps 200/300 (66.7%) | 0.00 steps/s") and resumed.line().endswith("| loss 0.5000")
