"""A screenshot of an explorer page in headless Chromium (how ``docs/explorer.png`` is made).

Needs the ``selenium`` package (``pip install -e '.[test]'``) and Debian's ``chromium`` +
``chromium-driver``. Usage::

    python -m jaxgan.viz.screenshot out/demo/explorer/index.html docs/explorer.png \\
        --result stylex --select class=large_high_horizon --select rank=1 --click 0
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def _driver(width: int, height: int):
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if chromium is None or driver_bin is None:
        raise OSError("needs Debian's `chromium` and `chromium-driver` "
                      "(apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="jaxgan-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(options=opts, service=Service(driver_bin)), profile


def save_screenshot(page, out_png, *, result_kind: str | None = None,
                    select: dict | None = None, click: int | None = None, width: int = 1280,
                    height: int = 900) -> Path:
    """Open ``page`` (an explorer ``index.html``) from disk and save a PNG of the window.

    Args:
      page: path of the page.
      out_png: screenshot path.
      result_kind: show the first result of this kind (e.g. ``"stylex"``; default: the first).
      select: ``{facet: value}`` chips to click, in order ("Step k: choose ...").
      click: index of the shown image to open in the details panel.
      width, height: window size in CSS pixels.

    Returns:
      ``out_png``.

    Raises:
      OSError: chromium/chromedriver missing; LookupError: no such result/facet/value/image.
    """
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    drv, profile = _driver(width, height)
    try:
        drv.get(Path(page).resolve().as_uri())
        if result_kind:
            links = [a for a in drv.find_elements(By.CSS_SELECTOR, "#results a.result")
                     if result_kind.lower() in a.text.lower()]
            if not links:
                raise LookupError(f"no result of kind {result_kind!r} on {page}")
            links[0].click()
        for facet, value in (select or {}).items():
            chips = drv.find_elements(
                By.CSS_SELECTOR, f'#facets .facet[data-facet="{facet}"] button.chip')
            hit = [c for c in chips if c.get_attribute("data-value") == str(value)]
            if not hit:
                raise LookupError(f"facet {facet!r} has no value {value!r} "
                                  f"(values: {[c.get_attribute('data-value') for c in chips]})")
            hit[0].click()
        if click is not None:
            thumbs = drv.find_elements(By.CSS_SELECTOR, "#main img.thumb")
            if click >= len(thumbs):
                raise LookupError(f"only {len(thumbs)} image(s) shown; cannot click #{click}")
            thumbs[click].click()
        time.sleep(0.5)                                    # let images decode
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(out_png))
        return out_png
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxgan.viz.screenshot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("page", help="explorer index.html")
    p.add_argument("out", help="PNG to write")
    p.add_argument("--result", help="kind of the result to show (e.g. stylex)")
    p.add_argument("--select", action="append", default=[], metavar="FACET=VALUE")
    p.add_argument("--click", type=int, help="open the details of the n-th shown image")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=900)
    a = p.parse_args(argv)
    sel = dict(s.split("=", 1) for s in a.select)
    print(save_screenshot(a.page, a.out, result_kind=a.result, select=sel, click=a.click,
                          width=a.width, height=a.height))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
