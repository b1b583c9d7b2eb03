"""The search page in a real browser: headless Chromium (OS packages ``chromium`` and
``chromium-driver``) driven by selenium against the real ``winnow serve``. The test types a
query, checks the rendered hits against the API's answer, pages forward, and keeps a screenshot
(``$WINNOW_TEST_ARTIFACTS/search_page.png``, default the test's tmp directory)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from winnow import datasets
from winnow.cli.main import main

from server_process import start_server, stop

# Outside the default run (it needs OS packages a fresh machine lacks); .ci/run installs them and
# runs it through .ci/browser.
pytestmark = pytest.mark.browser


def _driver() -> webdriver.Chrome:
    """Headless Chromium with the OS's chromedriver (never selenium's driver download)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (binary and driver_path):  # a failure, not a skip: CI installs both (.ci/run)
        raise AssertionError("the browser test needs the OS packages chromium and chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,1400", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "cranfield"
    assert main(["index", "build", "bm25", "--input", str(datasets.bundled().path), "--output", str(path),
                 "--store", "text"]) == 0
    qrels = datasets.bundled().qrels_path("test")
    proc, base = start_server("--index", str(path), "--qrels", str(qrels))
    try:
        yield base
    finally:
        stop(proc)


def _rendered(driver) -> list[tuple[str, str, str]]:
    return [(li.get_attribute("data-docno"), li.find_element(By.CLASS_NAME, "head").text,
             li.find_element(By.CLASS_NAME, "meta").text) for li in driver.find_elements(By.CSS_SELECTOR, "li.hit")]


def test_search_page_in_headless_chromium(server, tmp_path):
    query = "supersonic flow over a wedge"
    api = httpx.get(server + "/search", params={"q": query, "k": 10}).json()["hits"]
    page2 = httpx.get(server + "/search", params={"q": query, "k": 10, "offset": 10}).json()["hits"]
    driver = _driver()
    try:
        driver.get(server + "/")
        box = driver.find_element(By.ID, "q")
        box.send_keys(query)
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.hit")))
        hits = _rendered(driver)
        assert [d for d, _, _ in hits] == [h["docno"] for h in api]
        for (docno, head, meta), h in zip(hits, api):
            assert head == (h["title"] or h["docno"])
            assert meta.startswith(f"{docno} · score {h['score']:.4f}")
        snippets = [e.text for e in driver.find_elements(By.CLASS_NAME, "snippet")]
        assert snippets[0].startswith(api[0]["snippet"][:50].strip())
        assert "results 1-10" in driver.find_element(By.ID, "status").text
        out = Path(os.environ.get("WINNOW_TEST_ARTIFACTS", tmp_path))
        out.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(out / "search_page.png"))
        driver.find_element(By.ID, "next").click()
        WebDriverWait(driver, 20).until(lambda d: "results 11-20" in d.find_element(By.ID, "status").text)
        assert [d for d, _, _ in _rendered(driver)] == [h["docno"] for h in page2]
        # a judged query: relevant hits marked, nDCG@10 shown as the API computes it
        for qid, text in datasets.bundled().queries().items():  # the first with a relevant hit on the page
            judged = httpx.get(server + "/search", params={"q": text, "k": 10, "qid": qid}).json()
            if any((h["relevance"] or 0) > 0 for h in judged["hits"]):
                break
        box.clear()
        box.send_keys(text)
        qid_box = driver.find_element(By.ID, "qid")
        assert qid_box.is_displayed()
        qid_box.send_keys(qid)
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 20).until(lambda d: "nDCG@10" in d.find_element(By.ID, "ndcg").text)
        assert driver.find_element(By.ID, "ndcg").text == f"nDCG@10 {judged['nDCG@10']:.4f}"
        marked = [li.get_attribute("data-docno") for li in driver.find_elements(By.CSS_SELECTOR, "li.hit.relevant")]
        assert marked and marked == [h["docno"] for h in judged["hits"] if (h["relevance"] or 0) > 0]
        # a bad request shows the server's message, not a broken page
        box.clear()
        box.send_keys("   ")
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "error").text)
        assert "must not be empty" in driver.find_element(By.ID, "error").text
    finally:
        driver.quit()
