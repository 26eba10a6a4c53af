"""The serve page in a real headless Chromium: type a query, see images, players and plots render.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and Selenium;
skipped, saying which is missing, otherwise.
"""
import pytest

from serve_fixtures import build_served_world, chromium, chromium_paths, serve_process

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
pytestmark = pytest.mark.skipif(chromium_paths() is None, reason="no Chromium + chromedriver on this machine "
                                "(apt-get install chromium chromium-driver)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PICTURE_MODALITIES = ("vision", "depth", "thermal", "imu")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_browser")
    world = build_served_world(root)
    with serve_process(world["model"], world["index"]) as (base, _):
        driver = chromium(root / "profile")
        try:
            driver.get(base + "/")
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#filters input"))
            yield driver, world, root
        finally:
            driver.quit()


def _search(driver, text=None, filters=()):
    """Set the filters and the text, press Search, wait until the page has the answer."""
    for box in driver.find_elements(By.CSS_SELECTOR, "#filters input"):
        if box.is_selected() != (box.get_attribute("value") in filters):
            box.click()
    field = driver.find_element(By.ID, "text")
    field.clear()
    if text:
        field.send_keys(text)
    status = driver.find_element(By.ID, "status")
    before = int(status.get_attribute("data-done") or 0)
    driver.find_element(By.ID, "go").click()
    WebDriverWait(driver, 60).until(lambda d: int(status.get_attribute("data-done") or 0) > before)
    return driver.find_elements(By.CSS_SELECTOR, ".result")


def _loaded_images(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('.result img')].map(i => [i.closest('.result').dataset.modality,"
        " i.complete && i.naturalWidth > 0])")


def test_typed_query_renders_pictures_players_and_scores(page):
    driver, world, root = page
    assert "36 items" in driver.find_element(By.ID, "summary").text
    results = _search(driver, "the sound of a dog", filters=("vision", "audio", "depth", "thermal", "imu"))
    assert len(results) == 30  # the top 6 (default) of each ticked modality, grouped under headings
    modalities = {r.get_attribute("data-modality") for r in results}
    assert modalities == {"vision", "audio", "depth", "thermal", "imu"}
    headings = [h.text.lower() for h in driver.find_elements(By.CSS_SELECTOR, "#results h2.group")]
    assert headings == ["vision", "audio", "depth", "thermal", "imu"]
    WebDriverWait(driver, 30).until(lambda d: all(ok for _, ok in _loaded_images(d)))
    assert {m for m, _ in _loaded_images(driver)} == modalities  # sounds show a waveform above their player
    scores = [float(r.find_element(By.CSS_SELECTOR, ".score-value").text) for r in results[:6]]
    assert scores == sorted(scores, reverse=True)
    driver.find_element(By.ID, "per-modality").click()  # off: the top 6 overall, one ranking
    mixed = _search(driver, "the sound of a dog", filters=("vision", "audio", "depth", "thermal", "imu"))
    scores = [float(r.find_element(By.CSS_SELECTOR, ".score-value").text) for r in mixed]
    assert len(mixed) == 6 and scores == sorted(scores, reverse=True)
    assert not driver.find_elements(By.CSS_SELECTOR, "#results h2.group")
    driver.find_element(By.ID, "per-modality").click()
    audio = _search(driver, "the sound of a dog", filters=("audio",))
    assert len(audio) == 6 and all(r.find_elements(By.TAG_NAME, "audio") for r in audio)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('.result audio')].every(a => a.readyState >= 1 && a.duration > 0)"))
    driver.save_screenshot(str(root / "page.png"))
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def test_dropped_file_and_errors_show_on_the_page(page):
    driver, world, _ = page
    wav = world["files"]["audio"][4]
    driver.find_element(By.ID, "files").send_keys(str(wav))
    chip = driver.find_element(By.CSS_SELECTOR, ".file-term")
    assert wav.name in chip.text and chip.find_element(By.TAG_NAME, "select").get_attribute("value") == "audio"
    top = _search(driver, None, filters=("audio",))[0]
    assert top.get_attribute("data-id") == "audio:eval-000004"
    assert float(top.find_element(By.CSS_SELECTOR, ".score-value").text) == pytest.approx(1.0, abs=1e-3)
    chip.find_element(By.TAG_NAME, "button").click()  # remove the file term
    _search(driver, None)
    status = driver.find_element(By.ID, "status")
    assert "error" in status.get_attribute("class") and "Type a description" in status.text
