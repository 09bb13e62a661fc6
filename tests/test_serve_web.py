"""The web page at ``/`` of ``zerowasm serve``, driven in headless Chromium as a person would.

Debian's ``chromium`` + ``chromium-driver`` through selenium (``.ci/run`` installs them
when it runs as root); skips with the reason when any of them is missing. The server is
the real one (both model guests, CPU backend) on 127.0.0.1, in this process.

Checks: the page lists the served models; a chat question typed into the page streams its
answer in several pieces and the streamed text equals the server's own non-streamed answer
(greedy); the embedding matrix the page computes equals float64 cosines of the vectors
the API returns; the dashboard keeps polling, counts the chat request, shows per-op time
for the model and ``copies`` 0. A screenshot is saved in the test's tmp dir (and copied to
``$ZEROWASM_SCREENSHOT_DIR`` when set: that is how docs/serve-page.png was made).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")
httpx = pytest.importorskip("httpx", reason="httpx is not installed (test extra)")
pytest.importorskip("selenium", reason="selenium is not installed (test extra)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from serve_harness import live_server  # noqa: E402
from zerowasm.serve import CHAT_MODEL, EMBEDDING_MODEL, ServeSettings  # noqa: E402

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(ServeSettings(backend="cpu", instances=1, n_ctx=512)) as url:
        yield url


def get_json(url: str) -> Any:
    response = httpx.get(url, timeout=60)
    response.raise_for_status()
    return response.json()


def post_json(url: str, body: Any) -> Any:
    response = httpx.post(url, json=body, timeout=300)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1100", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def card_field(driver: Any, model: str, field: str) -> str:
    """Raw value of a dashboard tile of ``model`` ('' until the first poll)."""
    return js(driver, "const c = document.querySelector(`#dash-models [data-model=\"${arguments[0]}\"]`);"
                      "return c ? c.querySelector(`[data-field=${arguments[1]}]`).dataset.raw : null;", model, field)


def test_page_streams_chat_computes_similarity_and_dashboard_updates(
        server: str, browser: Any, tmp_path: Path) -> None:
    browser.get(server + "/")
    wait_for("the model list", lambda: js(browser, "return document.body.dataset.ready === 'true'"))
    chat_model = browser.find_element(By.ID, "chat-model").get_attribute("value")
    embed_model = browser.find_element(By.ID, "embed-model").get_attribute("value")
    # The page sorted the served models into the right selects (by their kind in /v1/models).
    assert (chat_model, embed_model) == (CHAT_MODEL, EMBEDDING_MODEL)

    # The dashboard polls /v1/stats on its own and draws a card per served model.
    wait_for("two dashboard polls", lambda: int(js(browser, "return document.body.dataset.polls || 0")) >= 2)
    requests_before = float(card_field(browser, chat_model, "requests") or 0)

    # Chat: type the question, send, watch it stream.
    max_tokens = browser.find_element(By.ID, "chat-max-tokens")
    max_tokens.clear()
    max_tokens.send_keys(str(MAX_TOKENS))
    box = browser.find_element(By.ID, "chat-input")
    box.clear()
    box.send_keys(QUESTION)
    browser.find_element(By.ID, "chat-send").click()
    answer = browser.find_element(By.CSS_SELECTOR, "#chat-log .msg.assistant")
    state = wait_for("the streamed answer", lambda: answer.get_attribute("data-state") in ("done", "error")
                     and answer.get_attribute("data-state"), timeout=180)
    text = answer.find_element(By.CSS_SELECTOR, ".text").text
    assert state == "done", f"the page shows an error: {text}"
    assert "Paris" in text
    assert int(answer.get_attribute("data-chunks")) > 1, "the answer arrived in one piece, not streamed"
    # The pieces the page joined are exactly the server's own (greedy, non-streamed) answer.
    reference = post_json(f"{server}/v1/chat/completions", {
        "model": chat_model, "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": MAX_TOKENS, "temperature": 0})
    assert text.strip() == reference["choices"][0]["message"]["content"].strip()

    # Embedding similarity: the page's matrix equals float64 cosines of the API's vectors.
    browser.find_element(By.ID, "embed-run").click()
    out = browser.find_element(By.ID, "embed-out")
    wait_for("the similarity matrix", lambda: out.get_attribute("data-state") in ("done", "error"), timeout=120)
    assert out.get_attribute("data-state") == "done", browser.find_element(By.ID, "embed-meta").text
    shown = np.array(js(browser, "return [...document.querySelectorAll('#embed-out tbody tr')].map("
                                 "r => [...r.querySelectorAll('td')].map(td => Number(td.dataset.value)))"))
    sentences = [s.strip() for s in browser.find_element(By.ID, "embed-input").get_attribute("value").splitlines()
                 if s.strip()]
    vectors = np.array([d["embedding"] for d in sorted(
        post_json(f"{server}/v1/embeddings", {"model": embed_model, "input": sentences})["data"],
        key=lambda d: d["index"])], dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert shown.shape == (len(sentences), len(sentences))
    np.testing.assert_allclose(shown, unit @ unit.T, atol=1e-6)

    # Dashboard: it kept polling and now shows what /v1/stats says (no request is running):
    # both chat requests counted, the chat model's per-op rows, zero copies.
    stats = get_json(f"{server}/v1/stats")["models"][chat_model]
    assert stats["requests"] >= requests_before + 2
    wait_for("the dashboard counting the chat requests",
             lambda: float(card_field(browser, chat_model, "requests") or 0) == stats["requests"], timeout=30)
    polls = int(js(browser, "return document.body.dataset.polls"))
    wait_for("more dashboard polls", lambda: int(js(browser, "return document.body.dataset.polls")) >= polls + 2)
    assert card_field(browser, chat_model, "copies") == "0" == str(stats["copies"])
    ops = js(browser, "return [...document.querySelectorAll(`[data-model=\"${arguments[0]}\"] .ops tbody tr`)]"
                      ".map(r => r.dataset.op)", chat_model)
    assert "matmul" in ops and sorted(ops) == sorted(stats["ops"]), (ops, sorted(stats["ops"]))
    assert js(browser, "return document.getElementById('dash-error').hidden") is True

    # The whole page in one picture: grow the window to the page's height first.
    height = js(browser, "return document.documentElement.scrollHeight")
    browser.set_window_size(1500, min(int(height) + 140, 4000))
    wait_for("a poll at the new size", lambda: int(js(browser, "return document.body.dataset.polls")) >= polls + 4)
    shot = tmp_path / "serve-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ZEROWASM_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["ZEROWASM_SCREENSHOT_DIR"]) / shot.name)
