#!/usr/bin/env python3
"""Proof of 100 % data-transmission accuracy (a benchmark-style run, not a test).

Drives case events through the real platform (`zhengtong serve`, release build,
SQLite) against the gxpt sandbox with fault injection on, kills the platform
with SIGKILL once in the middle and starts it again, waits until the outbox is
empty, then for every event date runs `zhengtong outbox reconcile` and checks
the sandbox's /sandbox/received: every event stored exactly once, with the
content the platform recorded, no duplicate and no gap in any case's seq.

    scripts/bench-gxpt-accuracy.py [--events 10000] [--error-rate 0.15] ...

Needs ../shared/sandboxes (Python 3.11); standard library only. Results go to
artifacts/bench/gxpt-accuracy.json and are printed.
"""

import argparse
import http.cookiejar
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "Demo@2026"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
VALUES = {"text": "李明", "textarea": "精确性测试", "number": "3", "amount": "5000.00", "date": "2026-12-01",
          "phone": "13800138000", "id_number": "439902198503170025", "uscc": "91439902MA4L8E5K08", "region": "370202"}


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
            time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {url}")


class Client:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def req(self, method, path, body=None, ctype="application/json", retries=30):
        data = json.dumps(body).encode() if (body is not None and ctype == "application/json") else body
        for attempt in range(retries):
            r = urllib.request.Request(self.base + path, data=data, method=method)
            if data is not None:
                r.add_header("content-type", ctype)
            r.add_header("x-csrf-token", self.csrf)
            try:
                with self.op.open(r, timeout=30) as resp:
                    text = resp.read().decode()
                    return resp.status, (json.loads(text) if text else None)
            except urllib.error.HTTPError as e:
                text = e.read().decode()
                return e.code, (json.loads(text) if text.startswith("{") else text)
            except OSError:
                # The platform is being restarted: the same request again.
                time.sleep(0.5)
        raise SystemExit(f"{method} {path}: the platform did not answer")

    def login(self, user):
        s, b = self.req("POST", "/api/v1/session", {"username": user, "password": PASSWORD})
        assert s == 200, (user, s, b)
        self.csrf = b["csrf_token"]


def upload(c, no, code):
    boundary = "ztbenchboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"material_code\"\r\n\r\n{code}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + PDF + f"\r\n--{boundary}--\r\n".encode()
    return c.req("POST", f"/api/v1/cases/{no}/materials", body, f"multipart/form-data; boundary={boundary}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--error-rate", type=float, default=0.15)
    ap.add_argument("--timeout-rate", type=float, default=0.05)
    ap.add_argument("--duplicate-ack-rate", type=float, default=0.10)
    ap.add_argument("--hang-ms", type=int, default=300)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--item", default="SCJG-GT-001")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/zhengtong"))
    ap.add_argument("--sandboxes", help="a set-up copy of the sandboxes folder to run from")
    ap.add_argument("--out", default=os.path.join(ROOT, "artifacts", "bench", "gxpt-accuracy.json"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="zt-accuracy-")
    if args.sandboxes:
        # A copy that is set up already (test.sh's); our own state directory
        # keeps its running sandboxes alive.
        sb = args.sandboxes
    else:
        src = os.path.join(os.path.dirname(ROOT), "shared", "sandboxes")
        sb = os.path.join(work, "sandboxes")
        shutil.copytree(src, sb, ignore=shutil.ignore_patterns(".venv", "state", "node_modules"))
        subprocess.run(["./setup.sh"], cwd=sb, check=True, stdout=subprocess.DEVNULL)
    sb_state = os.path.join(work, "sandbox-state")
    gx_port = free_port()
    env_text = subprocess.run(["./start.sh"], cwd=sb, check=True, capture_output=True, text=True,
                              env={**os.environ, "GXPT_PORT": str(gx_port), "ESEAL_PORT": str(free_port()),
                                   "SANDBOX_STATE_DIR": sb_state}).stdout
    sbenv = dict(line.replace("export ", "", 1).split("=", 1) for line in env_text.splitlines() if line.startswith("export "))
    gxpt = sbenv["GXPT_URL"]
    server = None
    try:
        faults = {"error_rate": args.error_rate, "timeout_rate": args.timeout_rate, "hang_ms": args.hang_ms,
                  "duplicate_ack_rate": args.duplicate_ack_rate, "delay_ms": args.delay_ms}
        req = urllib.request.Request(gxpt + "/sandbox/faults", data=json.dumps(faults).encode(), method="POST")
        req.add_header("content-type", "application/json")
        urllib.request.urlopen(req).read()

        data = os.path.join(work, "zt")
        db = os.path.join(data, "zt.db")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZT_")}
        env.update({"ZT_DATA_DIR": data, "ZT_DATABASE_URL": f"sqlite://{db}", "ZT_LOG": "warn",
                    "ZT_LISTEN": f"127.0.0.1:{port}", "ZT_LOGIN_RATE_PER_MINUTE": "100000",
                    "ZT_PASSWORD_MAX_AGE_DAYS": "0", "ZT_GXPT_URL": gxpt, "ZT_GX_APP_KEY": sbenv["GX_APP_KEY"],
                    "ZT_GX_APP_SECRET": sbenv["GX_APP_SECRET"], "ZT_GX_DATA_KEY": sbenv["GX_DATA_KEY"],
                    # The demo applicants are not in the sandbox's register: this run measures pushes.
                    "ZT_GXPT_IDENTITY_CHECK": "false"})
        subprocess.run([args.binary, "demo", "--seed-only"], env={**env, "ZT_GXPT_URL": ""}, check=True)
        # Accepting today computes deadlines into 2027, whose arrangement is
        # not published yet: the benchmark's provisional calendar (weekends only).
        subprocess.run([args.binary, "admin", "calendar", "import",
                        os.path.join(ROOT, "scripts/bench-calendar-2027-provisional.toml"),
                        "--source", "基准测试临时数据（非官方）"], env={**env, "ZT_GXPT_URL": ""}, check=True,
                       stdout=subprocess.DEVNULL)
        con = sqlite3.connect(db)
        con.execute("UPDATE users SET must_change_password = 0")
        con.commit()
        con.close()

        def start():
            p = subprocess.Popen([args.binary, "serve"], env=env)
            wait_http(base + "/readyz", 60)
            return p

        server = start()
        t0 = time.time()
        citizen, clerk = Client(base), Client(base)
        citizen.login("citizen")
        clerk.login("clerk")
        with urllib.request.urlopen(f"{base}/api/v1/items/{args.item}") as r:
            item = json.load(r)
        form = {}
        for f in item["form_fields"]:
            if f["type"] == "select":
                form[f["key"]] = f["options"][0]
            else:
                form[f["key"]] = VALUES.get(f["type"], "李明")
        per_case = 3  # SUBMITTED, ACCEPTED, WITHDRAWN
        cases = (args.events + per_case - 1) // per_case
        restarted_at = None
        for i in range(cases):
            if restarted_at is None and i == cases // 2:
                server.kill()  # SIGKILL: no shutdown, whatever was in flight
                server.wait()
                restarted_at = time.time() - t0
                server = start()
            s, b = citizen.req("POST", "/api/v1/cases", {"item_code": args.item, "form": form})
            assert s == 201, (s, b)
            no = b["case_no"]
            for m in item["materials"]:
                if m["required"]:
                    s, b = upload(citizen, no, m["code"])
                    assert s == 201, (s, b)
            for who, body in ((citizen, {"action": "submit"}), (clerk, {"action": "accept"}), (citizen, {"action": "withdraw"})):
                path = f"/api/v1/cases/{no}/submit" if body["action"] == "submit" else f"/api/v1/cases/{no}/actions"
                s, b = who.req("POST", path, {} if body["action"] == "submit" else body)
                assert s == 200, (no, body, s, b)
        drive_secs = time.time() - t0

        # Wait until the outbox is empty.
        while True:
            with urllib.request.urlopen(base + "/readyz") as r:
                d = json.load(r)["outbox"]["gxpt"]
            if d["pending"] == 0:
                break
            time.sleep(1)
        drained_secs = time.time() - t0
        server.terminate()
        server.wait(30)
        server = None

        con = sqlite3.connect(db)
        rows = con.execute("SELECT aggregate, seq, content_sm3, status, attempts, event_date FROM outbox WHERE counterpart = 'gxpt'").fetchall()
        con.close()
        dates = sorted({r[5] for r in rows})
        failed = [r for r in rows if r[3] != "delivered"]
        attempts = sum(r[4] for r in rows)
        reconcile = {}
        for d in dates:
            out = subprocess.run([args.binary, "outbox", "reconcile", "--date", d], env=env, capture_output=True, text=True)
            # The error itself, not the backtrace anyhow prints after it.
            err = [l for l in out.stderr.strip().splitlines() if l.startswith("Error")]
            reconcile[d] = {"exit": out.returncode, "output": out.stdout.strip().splitlines()[-3:] + err[-1:]}
        with urllib.request.urlopen(gxpt + f"/sandbox/received?app_key={sbenv['GX_APP_KEY']}") as r:
            received = json.load(r)["items"]
        with urllib.request.urlopen(gxpt + "/sandbox/faults") as r:
            injected = json.load(r).get("injected")
        keys = [(x["case_no"], x["seq"]) for x in received]
        mine = {(r[0], r[1]): r[2] for r in rows}
        theirs = {(x["case_no"], x["seq"]): x["content_sm3"] for x in received}
        per_case_seqs = {}
        for (c, q) in keys:
            per_case_seqs.setdefault(c, []).append(q)
        gaps = [c for c, qs in per_case_seqs.items() if sorted(qs) != list(range(1, len(qs) + 1))]
        result = {
            "events_in_outbox": len(rows),
            "events_driven_by_this_run": cases * per_case,
            "cases_driven": cases,
            "received_by_gxpt": len(received),
            "duplicates_at_gxpt": len(keys) - len(set(keys)),
            "missing_at_gxpt": len(set(mine) - set(theirs)),
            "unknown_at_gxpt": len(set(theirs) - set(mine)),
            "content_differs": sum(1 for k in mine if k in theirs and mine[k] != theirs[k]),
            "cases_with_seq_gaps": len(gaps),
            "not_delivered": len(failed),
            "push_attempts_recorded": attempts,
            "faults": faults,
            "injected": injected,
            "restart_after_secs": restarted_at,
            "drive_secs": round(drive_secs, 1),
            "drained_after_secs": round(drained_secs, 1),
            "reconcile": reconcile,
        }
        ok = (result["duplicates_at_gxpt"] == 0 and result["missing_at_gxpt"] == 0 and result["unknown_at_gxpt"] == 0
              and result["content_differs"] == 0 and not gaps and not failed
              and all(v["exit"] == 0 for v in reconcile.values()) and len(rows) >= args.events)
        result["accurate"] = ok
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, ensure_ascii=False, indent=2)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        sys.exit(0 if ok else 1)
    finally:
        if server is not None:
            server.kill()
        subprocess.run(["./stop.sh"], cwd=sb, env={**os.environ, "SANDBOX_STATE_DIR": sb_state},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
