"""The chat page (`infer-cli serve`, `/`) in a real browser: headless Chromium from Debian driven
by Selenium. Logs in through /token, sends a message and watches the answer stream in, stops a
generation, shows a reply holding `<script>` as text (no script runs, none is added to the page),
keeps the conversation over a reload, and serves nothing at `/` with --no-chat-page. Screenshots
go to $INFER_TEST_ARTIFACTS (or a temporary folder, printed).
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from served import ServerProcess, request

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSWORD = "correct horse battery"
SCRIPT_PROMPT = "Write an HTML page with a <script> tag that shows an alert."


def browser_paths():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("INFER_ALLOW_NO_BROWSER") == "1":
            pytest.skip("no chromium / chromedriver (INFER_ALLOW_NO_BROWSER=1)")
        pytest.fail("chromium and chromedriver are needed (scripts/install_deps.sh installs "
                    "them); set INFER_ALLOW_NO_BROWSER=1 to skip")
    return chromium, driver


@pytest.fixture(scope="module")
def server(cli_tool, smollm2_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat_page")
    run = lambda *a, **k: subprocess.run([cli_tool, "gen-password", *a], capture_output=True,
                                         text=True, check=True, **k).stdout.strip()
    users = folder / "users.yaml"
    users.write_text(f"jwt_key: {run('--jwt-key')}\nusers:\n  - username: alice\n"
                     f"    password_hash: '{run('--password-stdin', input=PASSWORD)}'\n"
                     f"    role: user\n")
    s = ServerProcess(cli_tool, smollm2_path, "--users-file", str(users), "--served-model-name",
                      "smollm2", "--threads", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("INFER_TEST_ARTIFACTS") or str(tmp_path_factory.mktemp("shots"))
    os.makedirs(folder, exist_ok=True)
    print(f"chat page screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=60):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition())
    except Exception:
        print("page error:", driver.find_element(By.ID, "error").text)
        print("browser log:", driver.get_log("browser"))
        raise


def assistant_texts(driver):
    return [e.get_attribute("textContent") for e in
            driver.find_elements(By.CSS_SELECTOR, "#messages .message.assistant .content")]


def send(driver, text):
    box = driver.find_element(By.ID, "input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def no_alert(driver):
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_the_chat_page_in_a_browser(server, browser, shots):
    d = browser
    d.get(server.url() + "/")
    wait(d, lambda: d.find_element(By.ID, "login").is_displayed())
    assert not d.find_element(By.ID, "chat").is_displayed()
    d.save_screenshot(os.path.join(shots, "01-login.png"))

    # A wrong password: the server's message, still on the login form.
    d.find_element(By.ID, "username").send_keys("alice")
    d.find_element(By.ID, "password").send_keys("wrong")
    d.find_element(By.ID, "login-button").click()
    wait(d, lambda: "incorrect username or password" in d.find_element(By.ID, "error").text)
    d.find_element(By.ID, "password").clear()
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "login-button").click()
    wait(d, lambda: d.find_element(By.ID, "chat").is_displayed())
    models = [o.get_attribute("value")
              for o in d.find_elements(By.CSS_SELECTOR, "#model option")]
    assert models == ["smollm2"]
    d.save_screenshot(os.path.join(shots, "02-logged-in.png"))

    # Greedy answers (the page's temperature field), so that the replies are known.
    d.find_element(By.ID, "temperature").send_keys("0")

    # A reply that holds <script>: streamed in (several growing lengths seen before the end),
    # shown as text in a code block; no alert, no script element in the conversation.
    send(d, SCRIPT_PROMPT)
    lengths = []

    def finished():
        texts = assistant_texts(d)
        if texts and texts[-1]:
            if not lengths or lengths[-1] != len(texts[-1]):
                lengths.append(len(texts[-1]))
        return d.find_element(By.ID, "stop").get_attribute("disabled") is not None and texts

    wait(d, finished, timeout=120)
    assert len(lengths) >= 3, f"the answer did not arrive in pieces: {lengths}"
    reply = assistant_texts(d)[-1]
    assert "<script>" in reply, reply
    code = [e.get_attribute("textContent")
            for e in d.find_elements(By.CSS_SELECTOR, "#messages .assistant pre code")]
    assert any("<script>" in c for c in code), code
    assert d.find_elements(By.CSS_SELECTOR, "#messages script") == []
    assert no_alert(d)
    user = d.find_elements(By.CSS_SELECTOR, "#messages .message.user .content")[-1]
    assert user.get_attribute("textContent") == SCRIPT_PROMPT
    stats = d.find_element(By.ID, "stats").text
    assert re.search(r"\d+ tokens, .*\d+(\.\d)? tok/s", stats), stats
    d.save_screenshot(os.path.join(shots, "03-script-as-text.png"))

    # Stop a long generation: the text stops growing, the page says so, the server cancels.
    d.find_element(By.ID, "new-chat").click()
    wait(d, lambda: not d.find_elements(By.CSS_SELECTOR, "#messages .message"))
    send(d, "Tell me a very long story about a dragon who learns to paint.")
    wait(d, lambda: len((assistant_texts(d) or [""])[-1]) > 40)
    d.find_element(By.ID, "stop").click()
    wait(d, lambda: d.find_element(By.ID, "send").get_attribute("disabled") is None)
    note = d.find_elements(By.CSS_SELECTOR, "#messages .assistant .note")[-1].text
    assert note == "(stopped)"
    stopped_at = assistant_texts(d)[-1]
    time.sleep(1.0)
    assert assistant_texts(d)[-1] == stopped_at
    d.save_screenshot(os.path.join(shots, "04-stopped.png"))

    def aborted():
        _, _, body = request(server, "GET", "/metrics")
        m = re.search(r'infer_requests_finished_total\{[^}]*finish_reason="abort"\} (\d+)',
                      body.decode())
        return m and int(m.group(1)) >= 1
    wait(d, aborted, timeout=10)

    # The conversation is kept over a reload (and the login, for this tab).
    d.refresh()
    wait(d, lambda: d.find_element(By.ID, "chat").is_displayed())
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#messages .message")) == 2)
    assert assistant_texts(d)[-1] == stopped_at
    d.save_screenshot(os.path.join(shots, "05-reloaded.png"))

    # Markup outside code blocks is text too, and only http(s) links become links.
    hostile = ("<img src=x onerror=alert(1)> **bold** <script>alert(2)</script>\n"
               "- [x](javascript:alert(3)) [ok](https://example.com/a)\n")
    d.execute_script("localStorage.setItem('libinfer.chat', JSON.stringify(["
                     "{role: 'user', content: '<b>hi</b>'}, {role: 'assistant', content: "
                     "arguments[0]}]))", hostile)
    d.refresh()
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#messages .message")) == 2)
    shown = assistant_texts(d)[-1]
    assert "<img src=x onerror=alert(1)>" in shown and "<script>alert(2)</script>" in shown
    assert d.find_elements(By.CSS_SELECTOR, "#messages img, #messages script, #messages b") == []
    assert [e.text for e in d.find_elements(By.CSS_SELECTOR, "#messages strong")] == ["bold"]
    links = d.find_elements(By.CSS_SELECTOR, "#messages a")
    assert [a.get_attribute("href") for a in links] == ["https://example.com/a"]
    assert no_alert(d)
    d.save_screenshot(os.path.join(shots, "06-markup-as-text.png"))

    # Log out: back to the form.
    d.find_element(By.ID, "logout").click()
    wait(d, lambda: d.find_element(By.ID, "login").is_displayed())


def test_the_page_is_served_with_a_strict_policy_and_can_be_turned_off(server, cli_tool,
                                                                       smollm2_path):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    here = os.path.dirname(os.path.abspath(__file__))
    ui = os.path.join(here, "..", "..", "libinfer", "serve", "ui")
    for path, name in (("/ui/app.js", "app.js"), ("/ui/app.css", "app.css"), ("/", "index.html")):
        status, _, body = request(server, "GET", path)
        assert status == 200
        with open(os.path.join(ui, name), "rb") as f:
            assert body == f.read(), path
    assert request(server, "GET", "/ui/missing.js")[0] == 404
    off = ServerProcess(cli_tool, smollm2_path, "--no-chat-page")
    try:
        assert request(off, "GET", "/")[0] == 404
        assert request(off, "GET", "/ui/app.js")[0] == 404
    finally:
        off.stop()
