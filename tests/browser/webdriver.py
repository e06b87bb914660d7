"""A minimal W3C WebDriver client on the standard library: enough to drive
chromedriver for the browser test without installing anything from PyPI."""

import base64
import time
import json
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    pass


class Driver:
    def __init__(self, url, capabilities):
        self.url = url.rstrip("/")
        value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = value["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None

    def _s(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url):
        self._s("POST", "/url", {"url": url})

    def current_url(self):
        return self._s("GET", "/url")

    def find(self, css):
        return Element(self, self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def find_all(self, css):
        return [Element(self, e[ELEMENT]) for e in self._s("POST", "/elements", {"using": "css selector", "value": css})]

    def xpath(self, xp):
        return Element(self, self._s("POST", "/element", {"using": "xpath", "value": xp})[ELEMENT])

    def js(self, script, *args):
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._s("GET", "/screenshot")))

    def quit(self):
        try:
            self._s("DELETE", "")
        except WebDriverError:
            pass


class Element:
    def __init__(self, driver, eid):
        self.d, self.id = driver, eid

    def click(self):
        self.d._s("POST", f"/element/{self.id}/click", {})

    def click_and_wait(self, timeout=30):
        """Clicks something that loads a new page and waits for that page."""
        self.d.js("window.__old_page = true;")
        self.click()
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.d.js("return window.__old_page === undefined && document.readyState === 'complete';"):
                    return
            except WebDriverError:
                pass  # the page is being replaced
            time.sleep(0.1)
        raise WebDriverError("timed out waiting for the next page")

    def send_keys(self, text):
        self.d._s("POST", f"/element/{self.id}/value", {"text": text})

    def clear(self):
        self.d._s("POST", f"/element/{self.id}/clear", {})

    def attr(self, name):
        return self.d._s("GET", f"/element/{self.id}/attribute/{name}")

    def prop(self, name):
        return self.d._s("GET", f"/element/{self.id}/property/{name}")

    def tag(self):
        return self.d._s("GET", f"/element/{self.id}/name")

    def text(self):
        return self.d._s("GET", f"/element/{self.id}/text")


def _ref(self):
    """The element as a script argument."""
    return {ELEMENT: self.id}


Element.ref = _ref
