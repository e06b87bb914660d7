#!/usr/bin/env python3
"""Browser test: a citizen applies for an item end to end in headless Chromium,
at phone size (375x812) and desktop size (1280x800); staff see the case in
their workbench. Fails on horizontal scrolling at phone size. Screenshots are
kept in the artefacts directory.

Standard library only: chromedriver is driven through tests/browser/webdriver.py.
"""

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Driver, WebDriverError  # noqa: E402

ITEM = "SCJG-GT-001"  # 个体工商户设立登记: natural persons apply
PASSWORD = "Demo@2026"
VALUES = {
    "text": "李明", "textarea": "浏览器测试：经营范围为日用百货零售。", "number": "3", "amount": "5000.00",
    "date": "2026-12-01", "phone": "13800138000", "id_number": "439902198503170025",
    "uscc": "91439902MA4L8E5K08", "region": "370202",
}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

failures = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {url}")


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        failures.append(what)


class Flow:
    def __init__(self, d, base, name, artifacts):
        self.d, self.base, self.name, self.artifacts = d, base, name, artifacts
        self.shot_no = 0

    def visit(self, path):
        self.d.get(self.base + path)

    def shot(self, label, phone):
        self.shot_no += 1
        path = os.path.join(self.artifacts, f"{self.name}-{self.shot_no:02d}-{label}.png")
        self.d.screenshot(path)
        sw, iw = self.d.js("return [document.documentElement.scrollWidth, window.innerWidth];")
        if phone:
            check(sw <= iw, f"{self.name}/{label}: no horizontal scroll (scrollWidth {sw} <= {iw})")
        return path

    def login(self, user):
        self.visit("/login")
        self.d.find("#username").send_keys(user)
        self.d.find("#password").send_keys(PASSWORD)
        self.d.find("main form button[type=submit]").click_and_wait()

    def logout(self):
        self.d.js("window.confirm = function () { return true; };")
        self.d.find("nav.main form button").click_and_wait()


DATA_DIR = None


def issued_licence(seconds=60):
    """A licence the demo's built-in sealer has issued (it seals in the background)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with sqlite3.connect(os.path.join(DATA_DIR, "demo.db")) as db:
                row = db.execute("SELECT licence_no FROM licences WHERE status = 'issued' ORDER BY id LIMIT 1").fetchone()
            if row:
                return row[0]
        except sqlite3.Error:
            pass
        time.sleep(1)
    return None


def run(driver_url, base, name, caps, phone, artifacts, item):
    d = Driver(driver_url, caps)
    f = Flow(d, base, name, artifacts)
    try:
        f.visit("/")
        check("办事大厅" in d.find("h1").text(), f"{name}: portal home shows 办事大厅")
        check(d.js("return document.documentElement.lang") == "zh-CN", f"{name}: lang=zh-CN")
        f.shot("home", phone)
        f.login("citizen")
        check("/my/cases" in d.current_url(), f"{name}: citizen lands on 我的办件")
        f.visit(f"/items/{ITEM}")
        check(item["name"] in d.find("h1").text(), f"{name}: guide shows the item name")
        f.shot("guide", phone)
        d.xpath("//a[contains(., '在线申请')]").click_and_wait()
        check("/apply" in d.current_url(), f"{name}: apply form opens")
        unlabelled = d.js("return Array.from(document.querySelectorAll('main input:not([type=hidden]), main select, main textarea'))"
                          ".filter(e => !document.querySelector('label[for=\"' + e.id + '\"]')).length")
        check(unlabelled == 0, f"{name}: every form field has a label")
        for fld in item["form_fields"]:
            el = d.find(f"#f-{fld['key']}")
            if fld["type"] == "select":
                d.js("arguments[0].value = arguments[0].options[1].value;", el.ref())
            elif fld["type"] == "date":
                d.js("arguments[0].value = '2026-12-01';", el.ref())
            else:
                el.send_keys(VALUES.get(fld["type"], "李明"))
        f.shot("form", phone)
        d.xpath("//main//form//button[@type='submit']").click_and_wait()
        url = d.current_url()
        check("/my/cases/ZT" in url, f"{name}: draft created ({url})")
        case_no = url.rsplit("/", 1)[-1].split("?")[0]
        pdf = os.path.join(artifacts, "material.pdf")
        with open(pdf, "wb") as fh:
            fh.write(PDF)
        for m in item["materials"]:
            if not m["required"]:
                continue
            d.find(f"#file-{m['code']}").send_keys(pdf)
            d.xpath(f"//input[@id='file-{m['code']}']/following-sibling::button").click_and_wait()
        f.shot("materials", phone)
        d.js("window.confirm = function () { return true; };")
        d.xpath("//form[.//input[@name='action' and @value='submit']]//button").click_and_wait()
        status = d.xpath("//dt[.='状态']/following-sibling::dd[1]").text()
        check("已提交" in status, f"{name}: case {case_no} submitted (status: {status})")
        f.shot("submitted", phone)
        f.logout()
        f.login("clerk")
        check("/workbench" in d.current_url(), f"{name}: clerk lands on the workbench")
        check(case_no in d.find("main").text(), f"{name}: the new case is in the clerk's queue")
        f.shot("workbench", phone)
        d.find(f"a[href='/workbench/cases/{case_no}']").click_and_wait()
        d.xpath("//form[.//input[@name='action' and @value='accept']]//button").click_and_wait()
        status = d.xpath("//dt[.='状态']/following-sibling::dd[1]").text()
        check("审查中" in status, f"{name}: clerk accepted the case (status: {status})")
        f.shot("accepted", phone)
        # Personal information is masked for staff.
        check("439902198503170025" not in d.find("main").text(), f"{name}: the clerk sees the identity number masked")
        # Enrolling an authenticator: the QR code is drawn by the platform.
        f.visit("/account/second-factor")
        d.find("main form button[type=submit]").click_and_wait()
        qr = d.js("var s = document.querySelector('.qr svg'); if (!s) return 0; return s.getBoundingClientRect().width;")
        check(qr and qr >= 150, f"{name}: the enrolment QR code is shown ({qr}px wide)")
        check(len(d.find("code.secret").text()) >= 26, f"{name}: the secret is shown for typing in by hand")
        f.shot("second-factor", phone)
        f.logout()
        # Registration and the privacy notice, before signing in.
        f.visit("/register")
        unlabelled = d.js("""return Array.from(document.querySelectorAll('main input:not([type=hidden]), main select, main textarea'))
            .filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.closest('label')).length;""")
        check(unlabelled == 0, f"{name}: every registration field has a label")
        consent = d.js("var c = document.querySelector('main input[type=checkbox]'); return c ? c.checked : null;")
        check(consent is False, f"{name}: the consent box is not ticked in advance")
        f.shot("register", phone)
        f.visit("/privacy")
        check("个人信息" in d.find("main").text(), f"{name}: the privacy notice is shown")
        f.shot("privacy", phone)
        # The public verification page a licence's QR code points at.
        licence_no = issued_licence()
        check(licence_no is not None, f"{name}: the demo issued a sealed licence")
        if licence_no:
            f.visit(f"/verify/{licence_no}")
            verdict = d.find("#verdict").text()
            check("当前有效" in verdict, f"{name}: licence {licence_no} verifies ({verdict})")
            check(d.js("return !!document.querySelector('main input[type=file]');"), f"{name}: the file check is offered")
            f.shot("verify", phone)
    except WebDriverError as e:
        check(False, f"{name}: webdriver error {e}")
        try:
            f.shot("error", False)
        except WebDriverError:
            pass
    finally:
        d.quit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/debug/zhengtong")
    ap.add_argument("--artifacts", default="artifacts/browser")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = ap.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    args.artifacts = os.path.abspath(args.artifacts)
    global DATA_DIR
    data = tempfile.mkdtemp(prefix="zt-browser-")
    DATA_DIR = data
    port, dport = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZT_")}
    env.update({"ZT_DATA_DIR": data, "ZT_LOG": "warn"})
    server = subprocess.Popen([args.binary, "demo", "--listen", f"127.0.0.1:{port}"], env=env)
    driver = subprocess.Popen([args.chromedriver, f"--port={dport}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(base + "/readyz", 120)
        wait_http(f"http://127.0.0.1:{dport}/status", 30)
        with urllib.request.urlopen(f"{base}/api/v1/items/{ITEM}") as r:
            item = json.load(r)
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
        phone = {"browserName": "chrome", "goog:chromeOptions": {"binary": args.chromium, "args": flags,
                 "mobileEmulation": {"deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 2.0}}}}
        desktop = {"browserName": "chrome", "goog:chromeOptions": {"binary": args.chromium, "args": flags + ["--window-size=1280,800"]}}
        print("browser test: phone 375x812")
        run(f"http://127.0.0.1:{dport}", base, "phone-375x812", phone, True, args.artifacts, item)
        print("browser test: desktop 1280x800")
        run(f"http://127.0.0.1:{dport}", base, "desktop-1280x800", desktop, False, args.artifacts, item)
    finally:
        driver.terminate()
        server.terminate()
        server.wait(10)
    checks_failed = len(failures)
    print(f"browser: screenshots in {args.artifacts}")
    print(f"browser: {checks_failed} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
