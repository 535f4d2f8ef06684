"""The explorer driven in headless Chromium (Selenium + the Debian chromium/chromium-driver).

A small results folder of solid-colour images with known facets is built with the manifest
API; the test serves it with the explorer's localhost server, selects an assessor, a class
and alphas, checks that exactly the expected images are shown (by their links and by the
pixel colour the browser decoded), opens the details panel, switches result, and saves a
screenshot. The same page is also loaded from ``file://`` (no server). Skipped, with the
reason, when chromium, chromedriver or selenium is missing; ``.ci/run`` installs them.

Set ``JAXGAN_EXPLORER_SCREENSHOT=path.png`` to also write the screenshot there
(docs/explorer.png was made so).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from jaxgan.viz import manifest as mf
from jaxgan.viz.explorer import build_explorer, make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("headless browser test needs Debian's `chromium` and `chromium-driver` "
                "(apt-get install chromium chromium-driver; .ci/run installs them)",
                allow_module_level=True)
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="needs the `selenium` package (pip install -e '.[test]')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ASSESSORS = ["object_size", "brightness"]
CLASSES = ["circle", "square", "triangle"]
ALPHAS = [-0.2, 0.0, 0.2]
SIZE = 16


def colour(a: int, c: int, k: int) -> tuple[int, int, int]:
    """A distinct solid colour per (assessor, class, alpha index)."""
    return (30 + 200 * a, 20 + 100 * c, 10 + 110 * k)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A results folder: a direction strip result and a StylEx-like gallery result."""
    root = tmp_path_factory.mktemp("results")
    d = root / "directions"
    rows = []
    for a, assessor in enumerate(ASSESSORS):
        for c, cls in enumerate(CLASSES):
            ims = []
            for k, alpha in enumerate(ALPHAS):
                p = d / "strips" / f"{assessor}_{cls}_{k}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((SIZE, SIZE, 3), colour(a, c, k), np.uint8)).save(p)
                ims.append(mf.item(p, caption=f"alpha {alpha}", value=alpha,
                                   details={"score": 0.5 + alpha}))
            rows.append(mf.strip_row(ims, label=f"{assessor} / {cls}",
                                     facets={"assessor": assessor, "class": cls}))
    mf.write_manifest(d, "directions", "GANalyze strips", [mf.strip(rows, axis="alpha")],
                      facets=["assessor", "class"])
    s = root / "stylex"
    s.mkdir()
    items = []
    for i, cls in enumerate(CLASSES):
        Image.fromarray(np.full((SIZE, SIZE, 3), (250, 40 * i, 0), np.uint8)).save(s / f"{cls}.png")
        items.append(mf.item(f"{cls}.png", caption=cls, facets={"class": cls, "attribute": i},
                             details={"probabilities": {"before": 0.9, "after": 0.1 * i}}))
    mf.write_manifest(s, "stylex", "StylEx attributes", [mf.gallery(items)])
    index = build_explorer(root)
    return root, index


@pytest.fixture(scope="module")
def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="jaxgan-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    drv = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def served(results):
    root, _ = results
    server, url = make_server(root)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield url
    server.shutdown()
    server.server_close()


def shown(drv) -> list[dict]:
    """The images displayed in the main panel: link, loaded size and decoded centre pixel."""
    return drv.execute_script("""
      return [...document.querySelectorAll('#main img.thumb')].map(img => {
        let rgb = null;
        try {
          const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
          const g = c.getContext('2d'); g.drawImage(img, 0, 0);
          rgb = [...g.getImageData(img.naturalWidth >> 1, img.naturalHeight >> 1, 1, 1).data].slice(0, 3);
        } catch (e) { rgb = null; }   // file:// pages cannot read pixels back
        return {image: img.dataset.image, width: img.naturalWidth, complete: img.complete, rgb: rgb,
                facets: JSON.parse(img.dataset.facets)};
      });""")


def wait_loaded(drv, n: int) -> list[dict]:
    """Wait until exactly ``n`` images are shown and decoded; fail naming what is shown."""
    try:
        WebDriverWait(drv, 10).until(lambda d: (lambda s: len(s) == n and all(
            x["complete"] and x["width"] > 0 for x in s))(shown(d)))
    except TimeoutException:
        got = [(x["image"], x["width"]) for x in shown(drv)]
        raise AssertionError(f"expected {n} loaded image(s), the page shows {len(got)}: {got}") from None
    return shown(drv)


def click_chip(drv, facet: str, value: str) -> None:
    drv.find_element(By.CSS_SELECTOR, f'#facets .facet[data-facet="{facet}"] '
                                      f'button.chip[data-value="{value}"]').click()


def test_select_facets_and_alphas_shows_exactly_those_images(driver, served, results, tmp_path):
    root, _ = results
    driver.get(served)
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#main .section"))
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#facets .facet .label")]
    assert labels == ["Step 1: choose assessor", "Step 2: choose class", "Step 3: choose alpha"]
    assert len(wait_loaded(driver, len(ASSESSORS) * len(CLASSES) * len(ALPHAS))) == 18

    click_chip(driver, "assessor", "brightness")
    click_chip(driver, "class", "square")
    click_chip(driver, "alpha", "0.2")
    click_chip(driver, "alpha", "-0.2")
    want = {(1, 1, 2), (1, 1, 0)}  # (assessor, class, alpha index)
    got = wait_loaded(driver, len(want))
    expected_files = {f"{ASSESSORS[a]}_{CLASSES[c]}_{k}.png" for a, c, k in want}
    assert {urllib.parse.unquote(x["image"]).rsplit("/", 1)[1] for x in got} == expected_files
    for x in got:  # the link resolves to that file in the results, and the pixels are its colour
        path = (root / "explorer" / urllib.parse.unquote(x["image"])).resolve()
        a, c, k = ASSESSORS.index(x["facets"]["assessor"]), CLASSES.index(x["facets"]["class"]), \
            ALPHAS.index(x["facets"]["alpha"])
        assert path.name == f"{ASSESSORS[a]}_{CLASSES[c]}_{k}.png" and path.is_file()
        assert tuple(x["rgb"]) == colour(a, c, k)
        assert x["width"] == SIZE
    assert driver.find_element(By.ID, "count").get_attribute("data-n") == "2"
    on = driver.find_elements(By.CSS_SELECTOR, '#facets .facet[data-facet="alpha"] button.chip.on')
    assert sorted(e.get_attribute("data-value") for e in on) == ["-0.2", "0.2"]

    # details panel of the alpha = 0.2 image
    driver.find_element(By.CSS_SELECTOR, '#main img.thumb[data-facets*="0.2"]:not([data-facets*="-0.2"])').click()
    panel = driver.find_element(By.ID, "details")
    WebDriverWait(driver, 10).until(lambda d: "open" in panel.get_attribute("class"))
    facet = {e.get_attribute("data-key"): e.find_element(By.CSS_SELECTOR, "td.value").text
             for e in driver.find_elements(By.CSS_SELECTOR, "#details-facets tr[data-key]")}
    assert facet == {"assessor": "brightness", "class": "square", "alpha": "0.2"}
    assert driver.find_element(By.ID, "details-image").get_attribute("data-image").endswith(
        "brightness_square_2.png")
    info = driver.find_element(By.CSS_SELECTOR, '#details-info tr[data-key="score"] td.value').text
    assert float(info) == pytest.approx(0.7)
    shot = tmp_path / "explorer.png"
    assert driver.save_screenshot(str(shot))
    extra = os.environ.get("JAXGAN_EXPLORER_SCREENSHOT")
    if extra:
        shutil.copy(shot, extra)
    with Image.open(shot) as im:
        assert im.size[0] >= 1000 and im.size[1] >= 600

    # "all" restores every alpha of the selected row
    click_chip(driver, "alpha", "")
    assert len(wait_loaded(driver, 3)) == 3

    # the second result via the sidebar; its own facets, details with nested probabilities
    driver.find_element(By.CSS_SELECTOR, '#results a.result[data-id="r1"]').click()
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#main h2").text == "StylEx attributes")
    assert len(wait_loaded(driver, 3)) == 3
    click_chip(driver, "class", "triangle")
    got = wait_loaded(driver, 1)
    assert got[0]["image"].endswith("stylex/triangle.png") and tuple(got[0]["rgb"]) == (250, 80, 0)
    driver.find_element(By.CSS_SELECTOR, "#main img.thumb").click()
    probs = driver.find_element(By.CSS_SELECTOR, '#details-info tr[data-key="probabilities"]').text
    assert "before" in probs and "0.9" in probs and "after" in probs and "0.2" in probs


def test_page_works_from_file_url_without_server(driver, results):
    _, index = results
    driver.get(index.as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#main .section"))
    got = wait_loaded(driver, 18)
    assert all(x["width"] == SIZE for x in got)
    click_chip(driver, "class", "triangle")
    assert {x["facets"]["class"] for x in wait_loaded(driver, 6)} == {"triangle"}
