"""Screenshots of the training console for the README (docs/console-*.png).

Starts the whole server on a free port (virtual clock, fixed seed), puts a little
life into it through the console itself (a scenario activated, a client's
requests, a drill with three trainees), and photographs each view with the
distribution's Chromium (``apt-get install chromium``; Playwright never downloads
a browser)::

    python scripts/screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from ksefclient import Checkpoint, KsefApiError, KsefClient, KsefTokenCredentials
from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.server import ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONSOLE = "/_mock/console"
VIEWPORT = {"width": 1360, "height": 900}


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless (also used by the console's browser tests)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def shoot(page: Page, out: Path, name: str) -> Path:
    path = out / f"console-{name}.png"
    # Headless Chromium now and then has no frame to hand over right after a
    # navigation ("Unable to capture screenshot"); a frame later it has.
    for attempt in range(3):
        try:
            page.screenshot(path=str(path))
            return path
        except PlaywrightError as exc:
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.wait_for_timeout(250)
    return path


def client_traffic(server: ThreadedServer, state: MockState) -> None:
    """A connector's requests on TEST under rate-limit-invoices: logins, imports, 429s, a 400, a 401."""
    token = state.scenarios.describe("rate-limit-invoices")["setup"]["test"]["tokens"][0]["token"]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        client = KsefClient(
            base_url=server.url + "/test/v2",
            credentials=KsefTokenCredentials(token),
            http_client=http,
            sleep=state.clock.advance,
            clock=state.clock.timestamp,
        )
        client.authenticate()
        for _ in range(2):
            try:
                client.import_new(Checkpoint.start(state.clock.now().replace(day=1), "Subject2"))
            except KsefApiError:
                pass
        http.post("/test/v2/invoices/query/metadata?pageSize=5000", json={})
        http.get("/test/v2/tokens")


def take(out: Path, browser: Browser | None = None) -> list[Path]:
    """Photograph every view into ``out`` (with ``browser``, or a Chromium of its own)."""
    if browser is None:
        with sync_playwright() as playwright:
            own = launch(playwright)
            try:
                return take(out, own)
            finally:
                own.close()
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    config = MockConfig(seed=2026, clock_mode="virtual", rate_limits_enabled=False)
    state = MockState(config, clock=Clock.virtual("2026-03-02T09:00:00Z"))
    with ThreadedServer(create_app(state=state)) as server:
        context = browser.new_context(locale="pl-PL", viewport=VIEWPORT, device_scale_factor=1)
        page = context.new_page()
        base = server.url + CONSOLE

        # 1. Catalogue and look-up: what a customer pasted.
        page.goto(base + "/")
        page.fill("#lookup-q", "KSeF2 GetInvoicesAsync – Dostęp zabroniony")
        page.click("#lookup-go")
        shots.append(shoot(page, out, "lookup"))

        # 2. Environments: a scenario activated from the page.
        page.goto(base + "/environments")
        page.select_option("#activate-test", "rate-limit-invoices")
        page.click("#activate-test-go")
        shots.append(shoot(page, out, "environments"))

        # 3. Live journal: the page is open while a client works; then one request's details.
        page.goto(base + "/journal")
        page.click("#capture-toggle")
        page.wait_for_selector("body[data-live='1']")
        client_traffic(server, state)
        page.wait_for_selector("tr.entry[data-status='429']")
        time.sleep(0.5)  # the last rows of the stream
        shots.append(shoot(page, out, "journal"))
        # The login's answer: both JWTs are in it, masked.
        page.click("tr.entry[data-path$='/auth/token/redeem']")
        page.wait_for_selector("#detail[open]")
        shots.append(shoot(page, out, "journal-detail"))
        page.keyboard.press("Escape")

        # 4. A drill on DEMO: the trainer starts it, three trainees answer.
        page.goto(base + "/drills")
        page.fill("#drill-title", "Wsparcie KSeF – poniedziałek")
        page.check("#pick-token-write-only")
        page.select_option("#drill-environment", "demo")
        page.click("#drill-start")
        page.wait_for_selector("#connector li.level-error")
        drill = server.app.state.console.drills.get("d1")
        question = drill.questions[0]
        wrong = [c.letter for c in question.causes if c.letter != question.right_cause]
        trainee = context.new_page()
        trainee.goto(base + "/drills/d1/play?name=Anna Nowak")
        trainee.wait_for_selector("#connector li.level-error")
        trainee.check(f'input[name="cause-1"][value="{wrong[0]}"]')
        shots.append(shoot(trainee, out, "drill-trainee"))
        trainee.check(f'input[name="fix-1"][value="{question.right_fix}"]')
        trainee.click("#send-answer")
        trainee.wait_for_selector("#result")
        shots.append(shoot(trainee, out, "drill-score"))
        with httpx.Client(base_url=base) as http:
            for name, cause, fix in (
                ("Piotr Wiśniewski", question.right_cause, question.right_fix),
                ("Maria Zielińska", question.right_cause, wrong[1] if len(wrong) > 1 else "A"),
            ):
                http.post("/drills/d1/answer", data={"name": name, "cause-1": cause, "fix-1": fix})
        page.wait_for_function("document.querySelectorAll('#answers tbody tr').length === 3")
        shots.append(shoot(page, out, "drill-trainer"))
        trainee.close()
        context.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", type=Path)
    for path in take(parser.parse_args().out):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
