"""Screenshots of every page for the README: ``python scripts/make_screenshots.py``.

Serves a demo store (``klantreis demo --no-serve --db demo-data/demo.duckdb`` first) with
uvicorn on a free loopback port, logs in with the store's demo accounts (``stable_demo_accounts``) and saves desktop and
phone-sized PNGs into ``docs/screenshots/``. Needs /usr/bin/chromium and Playwright.
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright

from klantreis.access.accounts import stable_demo_accounts
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web import create_app

log = logging.getLogger("screenshots")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# (file name, path, role, language): every page in Dutch, the index and journeys in English too.
PAGES = [
    ("index", "/", "viewer", "nl"),
    ("scores", "/scores?period=30d", "analyst", "nl"),
    ("verbatims", "/verbatims?period=30d", "viewer", "nl"),
    ("journeys", "/journeys", "analyst", "nl"),
    ("contacts", "/contacts", "analyst", "nl"),
    ("contacts-queue", "/contacts/queue", "analyst", "nl"),
    ("contacts-models", "/contacts/models", "analyst", "nl"),
    ("admin", "/admin", "admin", "nl"),
    ("themes", "/comments/themes?owner=carrier:vlotbezorgd&group=low&period=30d", "analyst", "nl"),
    ("surveys", "/surveys", "analyst", "nl"),
    ("survey-invitations", "/surveys/invitations", "analyst", "nl"),
    ("cases", "/cases/team?owner=carrier:vlotbezorgd", "analyst", "nl"),
    ("proactive", "/proactive", "viewer", "nl"),
    ("alerts", "/alerts", "viewer", "nl"),
    ("index-en", "/", "viewer", "en"),
    ("journeys-en", "/journeys", "analyst", "en"),
    ("api-docs", "/api/v1/docs", "viewer", "en"),
]
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(page: Page, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _shoot(browser: object, base: str, passwords: dict[str, str], out: Path) -> None:
    for size_name, viewport in SIZES.items():
        for user in ("viewer", "analyst", "admin"):
            ctx = browser.new_context(viewport=viewport, is_mobile=size_name == "phone")  # type: ignore[attr-defined]
            page = ctx.new_page()
            if user == "viewer":
                page.goto(f"{base}/login?lang=nl")
                page.screenshot(path=str(out / f"login-{size_name}.png"))
            _login(page, base, user, passwords[user])
            for name, path, who, lang in PAGES:
                if who != user:
                    continue
                sep = "&" if "?" in path else "?"
                page.goto(f"{base}{path}{sep}lang={lang}")
                page.wait_for_load_state("networkidle")
                if "docs" in path:
                    page.wait_for_selector(".opblock", timeout=20_000)
                for chart in page.locator(".chart").all():
                    chart.locator("svg").first.wait_for(timeout=20_000)
                page.screenshot(path=str(out / f"{name}-{size_name}.png"), full_page=True)
                log.info("saved %s-%s.png", name, size_name)
            ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="demo-data/demo.duckdb")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = App(Settings.load(db_path=args.db, demo_mode=True))
    passwords = stable_demo_accounts(app.store)
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            _shoot(browser, f"http://127.0.0.1:{port}", passwords, out)
            browser.close()
    finally:
        server.should_exit = True
        time.sleep(0.5)
        app.close()


if __name__ == "__main__":
    main()
