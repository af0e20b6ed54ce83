"""The HTML report opens in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium; no browser download) renders a page that is not blank and shows every contact sheet.

`.ci/run` installs Chromium with apt when it is missing (docs/development.md, "Testing"); elsewhere the test skips,
saying so, only when no browser is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="no Chromium + ChromeDriver installed (Debian packages "
        "chromium and chromium-driver; .ci/run installs them)",
    ),
]


def _browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)


def test_the_report_renders_in_chromium_with_every_contact_sheet_displayed(report_world, tmp_path):
    from faceaug.commands.report import ReportRequest, run_report

    _, out = report_world
    copy = tmp_path / "expanded"
    shutil.copytree(out, copy)
    run_report(ReportRequest(path=copy))
    browser = _browser(tmp_path)
    try:
        browser.get((copy / "report.html").resolve().as_uri())
        assert browser.execute_script("return document.readyState") == "complete"
        text = browser.execute_script("return document.body.innerText")
        assert "Verdict" in text and "Contact sheets" in text and len(text) > 500
        sheets = browser.execute_script(
            "return Array.from(document.querySelectorAll('img.contact-sheet')).map("
            "i => [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width])"
        )
        assert len(sheets) == 2
        assert all(done and w > 0 and h > 0 and shown > 0 for done, w, h, shown in sheets), sheets
        plots = browser.execute_script(
            "return Array.from(document.querySelectorAll('img.plot')).map(i => i.naturalWidth)"
        )
        assert plots and min(plots) > 0
        browser.save_screenshot(str(tmp_path / "report.png"))
        assert (tmp_path / "report.png").stat().st_size > 10_000
    finally:
        browser.quit()
