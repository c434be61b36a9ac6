"""The Temporal Web UI in headless Chromium (Debian's `chromium`, driven by Playwright without
any browser download): a sale found by the `SaleState` filter, and its current details.

Screenshots go to the test's temporary directory, never into git.
"""

import shutil
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import async_playwright

WAIT_MS = 60_000
"""How long an element may take to appear (the UI is a single-page app on a loaded machine)."""


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is needed (scripts/install-system-packages installs it)"
    return found


async def sale_in_web_ui(
    ui_url: str, namespace: str, workflow_id: str, run_id: str, state: str, shots: Path
) -> tuple[str, str]:
    """The workflow list filtered by `SaleState="<state>"` and the sale's current details (the
    User Metadata tab, rendered in its own frame): the visible text of each."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            query = quote(f'SaleState="{state}"')
            await page.goto(f"{ui_url}/namespaces/{namespace}/workflows?query={query}")
            await page.get_by_text(workflow_id).first.wait_for(timeout=WAIT_MS)
            await page.screenshot(path=shots / "workflows-by-sale-state.png")
            listing = await page.inner_text("body")

            await page.goto(f"{ui_url}/namespaces/{namespace}/workflows/{workflow_id}/{run_id}")
            await page.get_by_text("User Metadata").first.click(timeout=WAIT_MS)
            details = page.frame_locator("iframe").first.locator("body")
            await details.get_by_text("proofs").first.wait_for(timeout=WAIT_MS)
            await page.screenshot(path=shots / "sale-current-details.png", full_page=True)
            return listing, await details.inner_text()
        finally:
            await browser.close()
