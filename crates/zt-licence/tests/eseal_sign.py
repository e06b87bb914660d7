#!/usr/bin/env python3
"""Seal a PDF through the eseal sandbox's POST /seal/v1/sign (test helper of tests/interop.rs).

Until the Rust GX-HMAC-SM3 client (crates/zt-gx) can be used here, the interop test signs its
requests with the sandbox's own reference implementation, gxsign.py, imported read-only from the
sandboxes folder at test time (nothing of it is copied into this repository).

    python eseal_sign.py IN.pdf OUT.pdf --seal-code 36040000000011 --page 1 --x 405 --y 72 \
        --reason 发证 [--signer-name 王审批]

Environment: ESEAL_URL (required), ESEAL_SANDBOX_DIR (the folder holding gxsign.py, default
/work/shared/sandboxes), GX_APP_KEY / GX_APP_SECRET / GX_DATA_KEY (default: the documented
sandbox test application). Prints the decrypted response without `signed_document` as JSON on
stdout; exits 1 with the error body on stderr when the call fails.
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request

SANDBOX_DIR = os.environ.get("ESEAL_SANDBOX_DIR", "/work/shared/sandboxes")
sys.path.insert(0, SANDBOX_DIR)
import gxsign  # noqa: E402  (read-only use of the sandbox's reference implementation)

PATH = "/seal/v1/sign"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--seal-code", required=True)
    ap.add_argument("--page", type=int, default=1)
    ap.add_argument("--x", type=float, required=True)
    ap.add_argument("--y", type=float, required=True)
    ap.add_argument("--reason", required=True)
    ap.add_argument("--signer-name")
    args = ap.parse_args()

    base = os.environ["ESEAL_URL"].rstrip("/")
    app = gxsign.AppCredentials(
        os.environ.get("GX_APP_KEY", gxsign.DEFAULT_APP.app_key),
        os.environ.get("GX_APP_SECRET", gxsign.DEFAULT_APP.app_secret),
        os.environ.get("GX_DATA_KEY", gxsign.DEFAULT_APP.data_key_hex),
    )

    with open(args.input, "rb") as f:
        document = f.read()
    payload = {
        "document": base64.b64encode(document).decode("ascii"),
        "seal_code": args.seal_code,
        "page": args.page,
        "x": args.x,
        "y": args.y,
        "reason": args.reason,
    }
    if args.signer_name is not None:
        payload["signer_name"] = args.signer_name

    body = gxsign.seal_envelope(app.data_key, payload)
    ts = str(gxsign.now_ms())
    nonce = gxsign.new_nonce()
    req = urllib.request.Request(
        base + PATH,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": str(len(body)),
            "X-Gx-AppKey": app.app_key,
            "X-Gx-Timestamp": ts,
            "X-Gx-Nonce": nonce,
            "X-Gx-Signature": gxsign.sign_request(app.app_secret, "POST", PATH, ts, nonce, body),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, headers, rbody = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, headers, rbody = e.code, e.headers, e.read()

    expected = gxsign.sign_response(
        app.app_secret, status, nonce, headers.get("X-Gx-Timestamp", ""),
        headers.get("X-Gx-Nonce", ""), rbody,
    )
    if not gxsign.signatures_equal(expected, headers.get("X-Gx-Signature")):
        print(f"response signature invalid (status {status}): {rbody[:500]!r}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"status {status}: {rbody.decode('utf-8', 'replace')}", file=sys.stderr)
        return 1

    data = json.loads(gxsign.open_envelope(app.data_key, rbody))
    signed = base64.b64decode(data.pop("signed_document"), validate=True)
    if gxsign.sm3_hex(signed) != data.get("document_sm3"):
        print("document_sm3 does not match the returned PDF", file=sys.stderr)
        return 1
    with open(args.output, "wb") as f:
        f.write(signed)
    json.dump(data, sys.stdout, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
