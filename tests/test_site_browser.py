"""The static site in a real browser (headless Chromium driven by Playwright, ``mtbench.reporting.browser``):
clicking a header re-sorts the rows (numeric and text columns, missing values last, a second click reverses), the
filters hide rows, every image loads, and a full-page screenshot is taken (also saved to $MTBENCH_SCREENSHOT_DIR
when set). Skips, with what to install, where Playwright or Chromium is missing (``make browser``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _records import SITE_COST, site_record

from mtbench.reporting import browser
from mtbench.reporting.results import Curve, CurvePoint, save_record
from mtbench.reporting.site import write_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

_why = browser.missing()
if _why:
    pytest.skip(f"browser test skipped: {_why}", allow_module_level=True)

TABLE = "board-nyud"
ROWS = """rows => rows.map(r => ({
  i: Number(r.getAttribute("data-i")),
  backbone: r.getAttribute("data-backbone"),
  shown: r.style.display !== "none" && r.offsetParent !== null,
  cells: Array.from(r.cells).map(c => c.hasAttribute("data-sort") ? c.getAttribute("data-sort") : c.textContent),
}))"""
SCREENSHOT = Path(__file__).resolve().parents[1] / "scripts" / "site_screenshot.py"
IMAGES = "imgs => imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"


def _results(root: Path) -> Path:
    """nyud only: single-task baselines and mtl on two backbones, padnet on hrnet18; two seeds each, a learning
    curve on mtl-0. The rows come out in Δm order, which is no column's ascending or descending order, and the
    latency column is missing for two rows (resnet50's baselines, padnet)."""
    for s in (0, 1):
        for bb, base, lat in (("hrnet18", 30.0, 20.0), ("resnet50", 36.0, None)):
            cost = {**SITE_COST, "latency_ms": lat} if lat else SITE_COST
            kw: dict[str, Any] = {"backbone": bb, "cost": cost}
            save_record(site_record(f"st-s-{bb}-{s}", "single_task", s, sem=base + s, **kw), root)
            save_record(site_record(f"st-d-{bb}-{s}", "single_task", s, dep=0.7 - s / 100, **kw), root)
        curve = None
        if s == 0:
            pts = [
                CurvePoint(iteration=i, images=8 * i, primary={"semseg": 10.0 + i, "depth": 1.0 - i / 100})
                for i in (0, 10, 20)
            ]
            curve = Curve(split="val", eval_images=4, every_iters=10, points=pts)
        mtl_cost = {**SITE_COST, "gmacs": 9.0, "latency_ms": 15.0}
        save_record(site_record(f"mtl-{s}", "mtl", s, 31.5 + s, 0.66 - s / 100, curve=curve, cost=mtl_cost), root)
        save_record(site_record(f"padnet-{s}", "padnet", s, 29.0 + s, 0.72, cost={**SITE_COST, "gmacs": 20.0}), root)
        r50_cost = {**SITE_COST, "gmacs": 30.0, "latency_ms": 40.0}
        save_record(site_record(f"mtl-r50-{s}", "mtl", s, 38.0 + s, 0.64, backbone="resnet50", cost=r50_cost), root)
    return root


@pytest.fixture(scope="module")
def site(module_tmp) -> Path:
    tmp = module_tmp("browser")
    out = tmp / "site"
    write_site(_results(tmp / "results"), out)
    return out


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser.chromium() as b:
        yield b


@pytest.fixture
def page(chromium: Browser, site: Path) -> Iterator[Page]:
    """index.html in a fresh tab; fails the test on any script error or failed request."""
    tab = chromium.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.goto(browser.file_url(site / "index.html"), wait_until="load")
    yield tab
    tab.close()
    assert not errors, errors


def _rows(page: Page) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(f"#{TABLE} tbody tr", ROWS)


def _column(page: Page, name: str) -> int:
    heads = page.eval_on_selector_all(f"#{TABLE} thead th", "hs => hs.map(h => h.textContent)")
    return next(k for k, h in enumerate(heads) if h.startswith(name))


def _click(page: Page, col: int) -> list[dict[str, Any]]:
    page.locator(f"#{TABLE} thead th").nth(col).click()
    return _rows(page)


def _numeric_order(rows: list[dict[str, Any]], col: int, descending: bool) -> list[int]:
    """data-i in the order the site promises: by the number (reversed on the second click), missing values last
    either way, ties in the original order."""
    sign = -1 if descending else 1

    def key(r: dict[str, Any]) -> tuple[bool, float, int]:
        v = r["cells"][col]
        return (v == "", 0.0 if v == "" else sign * float(v), r["i"])

    return [r["i"] for r in sorted(rows, key=key)]


def test_numeric_header_click_sorts_rows(page):
    original = _rows(page)
    assert [r["i"] for r in original] == list(range(5))
    for name in ("semseg mIoU", "Latency"):
        col = _column(page, name)
        values = [r["cells"][col] for r in original]
        present = [float(v) for v in values if v != ""]
        assert present != sorted(present) and present != sorted(present, reverse=True), (name, values)
        asc = _click(page, col)
        assert [r["i"] for r in asc] == _numeric_order(original, col, descending=False), name
        got = [r["cells"][col] for r in asc]
        nums = [float(v) for v in got if v != ""]
        assert nums == sorted(nums) and got[len(nums) :] == [""] * (len(got) - len(nums)), got
        assert [r["i"] for r in asc] != [r["i"] for r in original]
        assert page.locator(f"#{TABLE} thead th").nth(col).get_attribute("data-dir") == "asc"
        desc = _click(page, col)  # the second click reverses; missing values stay last
        assert [r["i"] for r in desc] == _numeric_order(original, col, descending=True), name
        got = [r["cells"][col] for r in desc]
        nums = [float(v) for v in got if v != ""]
        assert nums == sorted(nums, reverse=True) and got[len(nums) :] == [""] * (len(got) - len(nums)), got
        assert page.locator(f"#{TABLE} thead th").nth(col).get_attribute("data-dir") == "desc"
        # one sorted header at a time
        assert page.locator(f"#{TABLE} thead th[data-dir]").count() == 1
    latency = _column(page, "Latency")
    assert sum(r["cells"][latency] == "" for r in original) == 2  # the data has missing values to place last


def test_text_header_click_sorts_rows(page):
    original = _rows(page)
    col = _column(page, "Model")
    models = [r["cells"][col] for r in original]
    assert models != sorted(models)
    asc = _click(page, col)
    assert [r["cells"][col] for r in asc] == sorted(models)
    assert [r["i"] for r in asc] == [r["i"] for r in sorted(original, key=lambda r: (r["cells"][col], r["i"]))]
    desc = _click(page, col)
    assert [r["cells"][col] for r in desc] == sorted(models, reverse=True)
    # ties keep their original order in both directions
    rank = {m: k for k, m in enumerate(sorted(set(models), reverse=True))}
    assert [r["i"] for r in desc] == [r["i"] for r in sorted(original, key=lambda r: (rank[r["cells"][col]], r["i"]))]


def test_filter_hides_rows_and_survives_a_sort(page):
    box = f"select[data-table='{TABLE}'][data-filter='backbone']"
    page.select_option(box, "resnet50")
    rows = _rows(page)
    assert {r["backbone"] for r in rows if r["shown"]} == {"resnet50"}
    assert sorted(r["i"] for r in rows if not r["shown"]) == sorted(r["i"] for r in rows if r["backbone"] != "resnet50")
    assert sum(not r["shown"] for r in rows) == 3
    rows = _click(page, _column(page, "GMACs"))  # sorting keeps the filter
    assert [r["shown"] for r in rows] == [r["backbone"] == "resnet50" for r in rows]
    page.select_option(f"select[data-table='{TABLE}'][data-filter='source']", "measured")
    assert sum(r["shown"] for r in _rows(page)) == 2
    page.select_option(box, "")
    assert all(r["shown"] for r in _rows(page))


def test_filter_restored_by_the_browser_applies_to_rows(page):
    """Back from a run page, Chromium restores the select box's choice without a change event: the rows must
    follow it (they did not: all rows were shown under a filter that said resnet50)."""
    box = f"select[data-table='{TABLE}'][data-filter='backbone']"
    page.select_option(box, "resnet50")
    page.click("li a[href='runs/mtl-0.html']")  # the run list below the tables (that row is filtered out)
    page.wait_for_load_state("load")
    assert page.url.endswith("/runs/mtl-0.html")
    page.go_back(wait_until="load")
    assert page.eval_on_selector(box, "s => s.value") == "resnet50"
    rows = _rows(page)
    assert [r["shown"] for r in rows] == [r["backbone"] == "resnet50" for r in rows]


def test_every_image_loads(page, chromium, site):
    imgs = page.eval_on_selector_all("img", IMAGES)
    assert imgs == [["img/pareto_nyud.png", True]]
    run = chromium.new_page()
    run.goto(browser.file_url(site / "runs" / "mtl-0.html"), wait_until="load")
    assert run.eval_on_selector_all("img", IMAGES) == [["../img/curve_mtl-0.png", True]]
    run.close()


def test_full_page_screenshot(page, tmp_path):
    from PIL import Image

    out = tmp_path / "site.png"
    page.screenshot(path=str(out), full_page=True)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    with Image.open(out) as im:
        assert im.width == 1280 and im.height > 800  # the whole page, beyond the viewport
        assert len(im.convert("L").getcolors(256) or []) > 16  # text, table and plot, not a blank page
    target = os.environ.get("MTBENCH_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, Path(target) / "site.png")


def test_screenshot_script(site, tmp_path):
    """scripts/site_screenshot.py takes the same picture from the command line (here a run page, 900 wide); in its
    own process, as Playwright's sync API runs one instance per thread (the module's browser is open)."""
    from PIL import Image

    out = tmp_path / "pics" / "run.png"
    root = str(SCREENSHOT.parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, str(SCREENSHOT), str(site), str(out), "--width", "900", "--page", "runs/mtl-0.html"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == str(out), proc.stderr[-2000:]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width == 900 and im.height > 800
