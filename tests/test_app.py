"""The local page of a bundle: what it shows for a clip, an image, and files it cannot score; and the real page
in headless Chromium (Debian's package, driven by Playwright), which uploads a demo clip and reads the verdict."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_modules.demo.video_io import write_video
from data_modules.preprocess import sample_frames
from src.api import Detector
from src.app import AppArgs, Page, headline_scorer
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def clip(tiny_run) -> Path:
    media = tiny_run.parent / "artifacts" / "demo_media_tiny"
    splits = json.loads((media / "splits.json").read_text())
    return media / next(p for p, s in splits.items() if p.startswith("fake/") and s == "test")


def test_the_page_shows_the_verdict_of_every_scorer_the_timeline_and_the_saliency_sheet(tiny_bundle, clip) -> None:
    detector = Detector.load(tiny_bundle)
    page = Page(detector, AppArgs(bundle=tiny_bundle))
    shown = page.score(str(clip))
    expected = detector.score_file(clip)
    lead = headline_scorer(expected, detector.detector.settings.primary)
    assert lead == "fusion_gmm"
    assert f"## Verdict: {'FAKE' if expected.decisions[lead].fake else 'REAL'}" in shown.verdict
    for name, decision in expected.decisions.items():
        row = f"| {name} | {expected.scores[name]:.4f} | {decision.threshold:.4f} | {'fake' if decision.fake else 'real'} |"
        assert row in shown.verdict
    assert shown.skipped == "No sampled frame was skipped."
    assert shown.timeline.ndim == shown.saliency.ndim == 3 and shown.saliency.shape[1] > 500
    assert shown.timeline.dtype == np.uint8 and shown.timeline.std() > 10


def test_the_page_explains_files_it_cannot_score(tiny_bundle, clip, tmp_path) -> None:
    page = Page(Detector.load(tiny_bundle), AppArgs(bundle=tiny_bundle, max_mb=0.5))
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.mp4"
    write_video(noise, (rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(10)), fps=5)
    shown = page.score(str(noise))
    assert shown.verdict == "**Could not score** noise.mp4: no face found in any sampled frame."
    assert shown.skipped.startswith("8 skipped frame(s):") and shown.skipped.count("| no face |") == 8
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    assert page.score(str(broken)).verdict.startswith("**Could not score** broken.mp4: unreadable file (cannot open video")
    big = tmp_path / "big.mp4"
    big.write_bytes(bytes(1_100_000))
    assert page.score(str(big)).verdict == ("**Could not score**: big.mp4 is too large: 1.0 MB, the limit is "
                                            "0.5 MB (max_mb=).")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert "notes.txt is not a video or image file; accepted: .avi, .bmp" in page.score(str(notes)).verdict
    image = tmp_path / "face.jpg"
    [(_, frame)] = sample_frames(clip, 1)
    cv2.imwrite(str(image), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    still = page.score(str(image))
    assert "by `classifier`" in still.verdict and "Note: a still image: classifier and saliency only" in still.verdict
    assert still.timeline is not None and still.saliency is not None
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert page.score(str(tmp_path / "bad.png")).verdict.startswith("**Could not score** bad.png: unreadable file")
    assert page.score(None).verdict == "Upload a video or an image first."
    assert AppArgs(bundle=tiny_bundle).host == "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the page server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"the page server did not answer within {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def test_a_real_browser_uploads_a_clip_and_reads_the_verdict(tiny_bundle, clip, tmp_path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test installs it as root)")
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)").sync_playwright
    expected = Detector.load(tiny_bundle).score_file(clip)
    word = "FAKE" if expected.decisions["fusion_gmm"].fake else "REAL"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "src.app", f"bundle={tiny_bundle}", f"port={port}"], cwd=REPO_ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
    requests: list[str] = []
    try:
        _wait_for(url, server, log)
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(tempfile.mkdtemp(dir=tmp_path), headless=True,
                                                            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                            viewport={"width": 1100, "height": 1400})
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="networkidle", timeout=120_000)
            page.locator("#upload input[type=file]").set_input_files(str(clip))
            page.locator("#upload").get_by_text(clip.name).wait_for(timeout=60_000)
            page.locator("#score").click()
            verdict = page.locator("#verdict")
            verdict.get_by_text("Verdict:").wait_for(timeout=300_000)
            page.locator("#saliency img").wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            text = verdict.inner_text()
            skipped = page.locator("#skipped").inner_text()
            widths = page.eval_on_selector_all("#timeline img, #saliency img", "els => els.map(e => e.naturalWidth)")
            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert f"Verdict: {word}" in text
    assert all(name in text for name in expected.scores)
    assert skipped == "No sampled frame was skipped."
    assert len(widths) == 2 and min(widths) > 300
    assert all(r.startswith((url, "data:", "blob:")) for r in requests), [r for r in requests if not r.startswith(url)]
    assert shot.stat().st_size > 50_000
    if os.environ.get("DIFFFAKE_APP_SCREENSHOT"):  # how docs/app.png was made
        shutil.copy(shot, os.environ["DIFFFAKE_APP_SCREENSHOT"])
