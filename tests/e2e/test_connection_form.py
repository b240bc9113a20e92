"""The connection form as a person sees it: Airflow's own web UI (the api-server this module
starts, in a throwaway home) driven in headless Chromium.

Add a connection of our type, check what the form shows (every extra field labelled, with its
help; no "null" among the choices), save it, open it again (the TLS choice and the CA bundle
path kept, the timeout pair shown whole), and press Test: green against the job API, red with a
clear text for a wrong token and for a bad extra. Airflow 3.1 builds the form from the hook's
``get_connection_form_widgets``, later versions from the provider info's ``conn-fields``: the
same test runs on both (``make test`` and ``make test-lowest``).

Screenshots go to ``build/ui-screenshots/airflow-<version>/`` (``UI_SCREENSHOTS`` overrides).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from httsleep_airflow.get_provider_info import CONN_FIELDS
from httsleep_airflow.hooks.httsleep import BearerAuth, settings_from_connection
from httsleep_airflow.testing import JobAPI
from tests.e2e.services import BIN, ROOT, api_url, prepare_home, start, stop

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.ui, pytest.mark.timeout(240)]

AIRFLOW_VERSION = subprocess.run(
    [str(BIN / "python"), "-c", "import airflow; print(airflow.__version__)"],
    capture_output=True,
    text=True,
    check=True,
).stdout.strip()
#: Airflow 3.1 renders each extra field from the hook's WTForms fields (text, or a choice of
#: the raw values); later versions render the JSON Schema of ``conn-fields``.
SCHEMA_FORM = tuple(int(part) for part in AIRFLOW_VERSION.split(".")[:2]) >= (3, 2)
SHOTS = Path(os.environ.get("UI_SCREENSHOTS", ROOT / "build" / "ui-screenshots"))
SHOTS = SHOTS / f"airflow-{AIRFLOW_VERSION}"
TOKEN = "ui-test-token-5b1e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "no chromium on PATH: scripts/install-chromium.sh installs Debian's package"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def job_api() -> Iterator[JobAPI]:
    api = JobAPI(token=TOKEN).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def web_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running api-server (UI and REST API), all users admins, Test enabled."""
    home = tmp_path_factory.mktemp("ui-home")
    env = prepare_home(home, {})
    env["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    server = start(["api-server"], env, home / "api-server.log")
    url = api_url(env)
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                log = (home / "api-server.log").read_text()[-3000:]
                raise RuntimeError(f"the api-server did not come up:\n{log}")
            try:
                if requests.get(f"{url}/api/v2/version", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        yield url
    finally:
        stop(server)


@pytest.fixture(scope="module")
def page(web_ui: str) -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 2000})
        tab.set_default_timeout(20_000)
        tab.goto(web_ui + "/", wait_until="networkidle")  # the simple auth manager logs in
        yield tab
        browser.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _open_connections(page: Any) -> None:
    page.get_by_role("button", name="Admin").click()
    page.locator('a[href="/connections"]').click()
    page.get_by_role("button", name="Add Connection").wait_for()


def _choice(page: Any, field: str) -> Any:
    """The choice ``field`` (a react-select from Airflow 3.2 on, a Chakra select on 3.1)."""
    return page.locator(f'[id="element_{field}"], [id="select:element_{field}"]').first


def _choice_labels(page: Any, field: str) -> list[str]:
    """Open the choice ``field`` and read its options as shown."""
    _choice(page, field).get_by_role("combobox").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    labels = [text.strip() for text in options.all_inner_texts()]
    return labels


def _choose(page: Any, field: str, label: str, shot: str) -> list[str]:
    """Pick ``label`` in the choice ``field``; every label it offered."""
    labels = _choice_labels(page, field)
    _shot(page, shot)
    assert label in labels, labels
    page.get_by_role("option", name=label, exact=True).click()
    return labels


def _shown(value: str) -> str:
    """What a choice shows for ``value``: its ``values_display`` label where the UI reads it."""
    for spec in CONN_FIELDS.values():
        display = spec["schema"].get("values_display", {})
        if value in display and SCHEMA_FORM:
            return str(display[value])
    return value


def _row(page: Any, conn_id: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


def _press_test(page: Any, conn_id: str, expect: str, web_ui: str, body: dict[str, Any]) -> str:
    """Press the row's Test button; the text of the toast that shows ``expect``. Airflow 3.1's
    UI shows the result only as the button's icon: there the same route the button calls is
    asked directly, with the same body."""
    if not SCHEMA_FORM:
        body = {"connection_id": conn_id, "conn_type": "httsleep", **body}
        answer = _rest(web_ui).post(f"{web_ui}/api/v2/connections/test", json=body, timeout=60)
        answer.raise_for_status()
        return str(answer.json()["message"])
    _row(page, conn_id).get_by_role("button", name=re.compile("^Test")).click()
    toast = page.get_by_role("status").filter(has_text=expect)
    try:
        toast.wait_for()
    except playwright.TimeoutError:
        shown = page.get_by_role("status").all_inner_texts()
        raise AssertionError(f"no toast with {expect!r}; shown: {shown}") from None
    return str(toast.inner_text())


def _rest(web_ui: str) -> requests.Session:
    """A REST API client: the simple auth manager (all admins) hands out a token for nothing;
    Airflow 3.1 asks for it."""
    session = requests.Session()
    token = requests.get(f"{web_ui}/auth/token", timeout=30)
    token.raise_for_status()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def _stored(web_ui: str, conn_id: str) -> dict[str, Any]:
    response = _rest(web_ui).get(f"{web_ui}/api/v2/connections/{conn_id}", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _post(web_ui: str, conn_id: str, **fields: Any) -> None:
    body = {"connection_id": conn_id, "conn_type": "httsleep", **fields}
    body["port"] = int(body["host"].rsplit(":", 1)[1])
    _rest(web_ui).post(f"{web_ui}/api/v2/connections", json=body, timeout=30).raise_for_status()


def test_add_save_reopen_and_test_a_connection(
    page: Any, web_ui: str, job_api: JobAPI, tmp_path: Path
) -> None:
    ca_bundle = tmp_path / "internal-ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    _open_connections(page)

    # --- Add: every extra field labelled, with its help; no "null" among the choices ---
    page.get_by_role("button", name="Add Connection").click()
    page.locator("input[role=combobox]").first.fill("HttSleep")
    page.keyboard.press("Enter")
    page.get_by_role("textbox").first.fill("job_api")
    page.get_by_placeholder("https://api.example.com/v1").fill(job_api.url)
    page.get_by_placeholder("password, or the token when Auth type is bearer").fill(TOKEN)
    # With the port empty, Airflow 3.3.2's Test route itself answers "Bad Request".
    page.get_by_label("Port", exact=True).fill(str(job_api.port))
    page.get_by_text("Extra Fields", exact=True).click()  # one section open at a time
    for spec in CONN_FIELDS.values():
        page.get_by_text(spec["label"], exact=True).wait_for()
        page.get_by_text(spec["description"], exact=True).wait_for()
    _shot(page, "01-add-form")
    auth_labels = _choose(page, "auth_type", _shown("bearer"), shot="02-auth-type-choices")
    verify_labels = _choose(page, "verify", _shown("true"), shot="03-verify-choices")
    assert auth_labels == [_shown(v) for v in ("basic", "digest", "bearer")]
    assert verify_labels == [_shown(v) for v in ("true", "false")]
    assert not any("null" in label.lower() for label in auth_labels + verify_labels)
    page.locator("#element_ca_bundle").fill(str(ca_bundle))
    page.locator("#element_timeout").fill("[3.05, 30]")
    page.locator("#element_test_endpoint").fill("/")
    _shot(page, "04-add-form-filled")
    page.get_by_role("button", name="Save").click()
    try:
        _row(page, "job_api").wait_for()
    finally:
        _shot(page, "05-saved")

    # --- Saved: what the form stored means what the same hand-written JSON means ---
    stored = _stored(web_ui, "job_api")
    extra = json.loads(stored["extra"])
    settings = settings_from_connection(
        "job_api", host=stored["host"], password=TOKEN, extra=stored["extra"]
    )
    assert isinstance(settings.auth, BearerAuth)
    assert settings.verify == str(ca_bundle)
    assert settings.timeout == (3.05, 30.0)
    assert settings.test_endpoint == "/"
    assert "null" not in json.dumps({k: v for k, v in extra.items() if v is not None})

    # --- Reopened: the TLS choice, the CA bundle path and the timeout pair are all there ---
    _row(page, "job_api").get_by_role("button", name=re.compile("^Edit")).click()
    page.get_by_text("Extra Fields", exact=True).click()
    ca_field = page.locator("#element_ca_bundle")
    ca_field.wait_for()
    assert ca_field.input_value() == str(ca_bundle)
    timeout_text = page.locator("#element_timeout").input_value()
    assert re.sub(r"\s+", "", timeout_text) in ("[3.05,30]", '"[3.05,30]"'), timeout_text
    assert _shown("true") in _choice(page, "verify").inner_text()
    assert _shown("bearer") in _choice(page, "auth_type").inner_text()
    _shot(page, "06-edit-form-reopened")
    page.keyboard.press("Escape")

    # --- Test: green against the job API; red, in words, for a wrong token and a bad extra ---
    ok_text = _press_test(page, "job_api", "answered 200", web_ui, {**stored, "password": TOKEN})
    _shot(page, "07-test-green")
    assert "GET " + job_api.url + "/ answered 200 OK" in ok_text, ok_text
    wrong = {
        "host": job_api.url,
        "password": "not-the-token",
        "extra": json.dumps({"auth_type": "bearer"}),
    }
    bad = {"host": job_api.url, "extra": json.dumps({"X-Api-Key": "k"})}
    _post(web_ui, "job_api_wrong_token", **wrong)
    _post(web_ui, "job_api_bad_extra", **bad)
    page.reload(wait_until="networkidle")
    wrong_text = _press_test(page, "job_api_wrong_token", "answered 401", web_ui, wrong)
    _shot(page, "08-test-red-wrong-token")
    assert "answered 401" in wrong_text and "the credentials were refused" in wrong_text
    assert "not-the-token" not in wrong_text
    bad_text = _press_test(page, "job_api_bad_extra", "the connection being tested", web_ui, bad)
    _shot(page, "09-test-red-bad-extra")
    assert "the connection being tested: unknown extra key 'X-Api-Key'" in bad_text, bad_text
