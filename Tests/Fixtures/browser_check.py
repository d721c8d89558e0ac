#!/usr/bin/env python3
"""Drives headless Chromium through the dashboard over the DevTools protocol.

browser_check.py BASE_URL TOKEN TENANT SCREENSHOT.png DISCARD_ID

Signs in with TOKEN through the sign-in form, opens the tenant's page, prints
every data-testid's text as JSON, saves a screenshot, then clicks Discard on
exception item DISCARD_ID and reports the notice the page shows afterwards.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def main():
    base, token, tenant, shot, discard = sys.argv[1:6]
    profile = tempfile.mkdtemp(prefix="sb-chromium-")
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,1600", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) and time.time() < deadline:
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        ids = iter(range(1, 10**6))

        def call(method, **params):
            mid = next(ids)
            ws.send(json.dumps({"id": mid, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == mid:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg.get("result", {})

        def js(expression):
            result = call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
            return result.get("result", {}).get("value")

        def wait_for(expression, what):
            deadline = time.time() + 20
            while time.time() < deadline:
                if js(expression):
                    return
                time.sleep(0.1)
            raise RuntimeError(f"timed out waiting for {what}; at {js('location.href')}")

        call("Page.enable")
        call("Page.navigate", url=base + "/")
        wait_for("document.readyState === 'complete' && !!document.querySelector('#token')", "the sign-in form")
        js(f"document.querySelector('#token').value = {json.dumps(token)}; document.querySelector('#signin').click(); true")
        wait_for("location.pathname === '/ui' && document.readyState === 'complete'", "the signed-in overview")
        call("Page.navigate", url=f"{base}/ui/{tenant}")
        wait_for(f"location.pathname === '/ui/{tenant}' && document.readyState === 'complete' && !!document.querySelector('[data-testid=sla]')",
                 "the tenant dashboard")
        figures = js("Object.fromEntries([...document.querySelectorAll('[data-testid]')].map(e => [e.dataset.testid, e.textContent.trim()]))")
        text = js("document.body.innerText")
        png = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        import base64
        with open(shot, "wb") as f:
            f.write(base64.b64decode(png))
        js(f"document.querySelector('[data-testid=discard-{discard}]').click(); true")
        wait_for("!!document.querySelector('.notice')", "the notice after discarding")
        notice = js("document.querySelector('.notice').textContent")
        print(json.dumps({"figures": figures, "text": text, "notice": notice}))
        ws.close()
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
