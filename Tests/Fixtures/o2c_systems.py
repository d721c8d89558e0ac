#!/usr/bin/env python3
"""Drives the real BottleCRM and Tryton the way their users would, for the
end-to-end tests (RealSystemsTests.swift): sales people win deals in the CRM,
consultants log time in Tryton, accountants record payments. Also reads what
Switchboard made there. Each command prints one JSON document.

Environment: what scripts/start-bottlecrm and scripts/start-tryton print
(BOTTLECRM_URL, BOTTLECRM_PAT_FILE, BOTTLECRM_JWT_FILE, TRYTON_URL, TRYTON_DB,
TRYTON_USER, TRYTON_PASSWORD_FILE). Secrets are read from files, never printed.
"""
import base64
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid

ENV = os.environ


def secret(name):
    with open(ENV[name]) as handle:
        return handle.read().strip()


# --- BottleCRM (REST) ---

def crm(method, path, body=None, token_file="BOTTLECRM_PAT_FILE"):
    request = urllib.request.Request(
        ENV["BOTTLECRM_URL"] + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + secret(token_file), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            text = reply.read()
    except urllib.error.HTTPError as error:
        raise SystemExit(f"BottleCRM {method} {path}: HTTP {error.code}: {error.read()[:400]!r}")
    return json.loads(text) if text else {}


def crm_deal(name, amount, currency="EUR", address="with-address"):
    """A new account and a deal for it, in prospecting (ADDRESS no-address: an account without one)."""
    tag = uuid.uuid4().hex[:8]
    where = {"city": "Hamburg", "country": "DE", "address_line": "Hafenstrasse 1", "postcode": "20095"} if address != "no-address" else {}
    account = crm("POST", "/api/accounts/", {
        "name": f"{name} {tag} GmbH", "email": f"ap-{tag}@example.com", "industry": "TECHNOLOGY", **where})["id"]
    deal = crm("POST", "/api/opportunities/", {
        "name": f"{name} {tag}", "account": account, "amount": amount, "currency": currency, "probability": 40})["id"]
    return {"account": account, "deal": deal}


def crm_win(deal):
    crm("PATCH", f"/api/opportunities/{deal}/", {"stage": "CLOSED_WON", "closed_on": time.strftime("%Y-%m-%d")})
    return {"won_at": time.time()}


def crm_reopen(deal):
    crm("PATCH", f"/api/opportunities/{deal}/", {"stage": "NEGOTIATION"})
    return {}


def crm_fields(deal):
    return crm("GET", f"/api/opportunities/{deal}/")["opportunity_obj"].get("custom_fields") or {}


def crm_webhook(url, secret_file):
    """Registers a deal.won webhook (a PAT may not: the org JWT does) and keeps its secret in a 0600 file."""
    created = crm("POST", "/api/webhooks/", {"url": url, "events": ["deal.won"]}, token_file="BOTTLECRM_JWT_FILE")
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created["secret"])
    return {"id": created["id"]}


def crm_webhook_rotate(webhook, secret_file):
    """The CRM's admin rotates the webhook's secret (the old one stops signing at once); the new one replaces the file's."""
    rotated = crm("POST", f"/api/webhooks/{webhook}/rotate-secret/", {}, token_file="BOTTLECRM_JWT_FILE")
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(rotated["secret"])
    return {}


def crm_webhook_delete(webhook):
    crm("DELETE", f"/api/webhooks/{webhook}/", token_file="BOTTLECRM_JWT_FILE")
    return {}


def crm_contact(account, last_name):
    """A person at the account."""
    tag = uuid.uuid4().hex[:6]
    made = crm("POST", "/api/contacts/", {"first_name": "Dana", "last_name": last_name, "email": f"dana-{tag}@example.com",
                                          "title": "CFO", "account": account})
    return {"contact": made["id"]}


def crm_account(account):
    found = crm("GET", f"/api/accounts/{account}/")["account_obj"]
    return {"name": found["name"], "city": found.get("city")}


def crm_account_address(account, street, city, postcode):
    """Sales fills in the account's billing address."""
    crm("PATCH", f"/api/accounts/{account}/", {"address_line": street, "city": city, "postcode": postcode, "country": "DE"})
    return {}


def crm_account_rename(account, name):
    crm("PATCH", f"/api/accounts/{account}/", {"name": name})
    return {}


# --- Tryton (JSON-RPC) ---

_session = {}


def rpc(method, params):
    if "header" not in _session:
        _session["header"] = None
        uid, token = _rpc("common.db.login", [ENV["TRYTON_USER"], {"password": secret("TRYTON_PASSWORD_FILE")}, "en"])[:2]
        _session["header"] = "Session " + base64.b64encode(f"{ENV['TRYTON_USER']}:{uid}:{token}".encode()).decode()
        _session["context"] = _rpc("model.res.user.get_preferences", [True, {}])
    return _rpc(method, params)


def _rpc(method, params):
    request = urllib.request.Request(
        f"{ENV['TRYTON_URL']}/{ENV['TRYTON_DB']}/rpc/", data=json.dumps({"id": 1, "method": method, "params": params}).encode(),
        headers={"Content-Type": "application/json"})
    if _session.get("header"):
        request.add_header("Authorization", _session["header"])
    with urllib.request.urlopen(request, timeout=60) as reply:
        answer = json.load(reply)
    if answer.get("error"):
        raise SystemExit(f"Tryton {method}: {answer['error']}")
    return answer["result"]


def model(name, method, *args):
    if "context" not in _session:
        rpc("model.res.user.get_preferences", [True, {}])
    ctx = {k: v for k, v in _session["context"].items() if k in ("company", "companies", "employee", "employees", "language")}
    return rpc(f"model.{name}.{method}", list(args) + [ctx])


def tryton_project(deal):
    """Projects Switchboard opened for the deal, their tasks and customers, and how many customers carry its account's code."""
    projects = model("project.work", "search_read", [["type", "=", "project"], ["comment", "ilike", f"%/{deal}%"]], 0, None, None,
                     ["name", "party", "children", "comment", "effort_duration"])
    parties = sorted({p["party"] for p in projects})
    codes = [p["code"] for p in model("party.party", "read", parties, ["code"])] if parties else []
    same_code = model("party.party", "search_count", [["code", "in", codes]]) if codes else 0
    tasks = [t["name"] for p in projects for t in model("project.work", "read", p["children"], ["name"])]
    return {"projects": [p["id"] for p in projects], "parties": parties, "party_codes": codes, "parties_with_code": same_code,
            "tasks": tasks, "comments": [p["comment"] for p in projects], "names": [p["name"] for p in projects],
            "efforts": [(p["effort_duration"] or {}).get("seconds") for p in projects]}


def tryton_party(code):
    """The customer party with this code (Switchboard's crm/ACCOUNT_ID)."""
    rows = model("party.party", "search_read", [["code", "=", code]], 0, None, None, ["name"])
    return {"parties": [{"id": r["id"], "name": r["name"]} for r in rows]}


def tryton_party_rename(party, name):
    model("party.party", "write", [int(party)], {"name": name})
    return {}


def tryton_log_time(project, hours):
    """A consultant logs approved time on the project's first task."""
    children = model("project.work", "read", [int(project)], ["children"])[0]["children"]
    work = children[0] if children else int(project)
    timesheet = model("project.work", "read", [work], ["timesheet_works"])[0]["timesheet_works"][0]
    today = time.gmtime()
    line = model("timesheet.line", "create", [{
        "employee": _session["context"]["employee"], "work": timesheet, "company": _session["context"]["company"],
        "duration": {"__class__": "timedelta", "seconds": float(hours) * 3600}, "description": "Workshop",
        "date": {"__class__": "date", "year": today.tm_year, "month": today.tm_mon, "day": today.tm_mday}}])[0]
    return {"line": line}


def tryton_invoices(*lines):
    """The invoices covering these timesheet lines: id, number, state."""
    rows = model("timesheet.line", "read", [int(x) for x in lines], ["invoice_line"])
    invoice_lines = [r["invoice_line"] for r in rows if r["invoice_line"]]
    ids = sorted({r["invoice"] for r in model("account.invoice.line", "read", invoice_lines, ["invoice"])}) if invoice_lines else []
    invoices = model("account.invoice", "read", ids, ["number", "state", "total_amount", "currency.code"]) if ids else []
    return {"invoices": [{"id": i["id"], "number": i["number"], "state": i["state"], "total": i["total_amount"]["decimal"],
                          "currency": i["currency."]["code"]} for i in invoices]}


def tryton_currency(code, rate=None):
    """The accountant adds currency CODE (if Tryton has none) and, given RATE, its rate against the company's
    currency from 30 days ago (giving the company's currency its rate of 1 if it has none yet); without RATE,
    CODE is left with no rate at all."""
    found = model("currency.currency", "search", [["code", "=", code]], 0, 1, None)
    currency = found[0] if found else model("currency.currency", "create", [{
        "name": code, "code": code, "symbol": code, "rounding": {"__class__": "Decimal", "decimal": "0.01"}, "digits": 2}])[0]
    if rate is None:
        model("currency.currency.rate", "delete", model("currency.currency.rate", "search", [["currency", "=", currency]], 0, None, None))
    else:
        since = time.gmtime(time.time() - 30 * 86400)
        day = {"__class__": "date", "year": since.tm_year, "month": since.tm_mon, "day": since.tm_mday}
        company = model("company.company", "read", [_session["context"]["company"]], ["currency"])[0]["currency"]
        for target, value in ((company, "1"), (currency, rate)):
            if not model("currency.currency.rate", "search", [["currency", "=", target]], 0, 1, None):
                model("currency.currency.rate", "create", [{"currency": target, "date": day,
                                                            "rate": {"__class__": "Decimal", "decimal": value}}])
    return {"currency": currency}


def tryton_pay(invoice):
    """The accountant records the customer's bank transfer for the whole amount."""
    invoice = int(invoice)
    method = model("account.invoice.payment.method", "search", [["name", "=", "Bank transfer"]], 0, 1, None)[0]
    ctx = dict(_session["context"], active_model="account.invoice", active_id=invoice, active_ids=[invoice])
    sid = rpc("wizard.account.invoice.pay.create", [ctx])[0]
    start = rpc("wizard.account.invoice.pay.execute", [sid, {}, "start", ctx])["view"]["defaults"]
    rpc("wizard.account.invoice.pay.execute", [sid, {"start": {
        "amount": start["amount"], "currency": start["currency"], "description": "Bank transfer", "payment_method": method,
        "date": start["date"]}}, "choice", ctx])
    rpc("wizard.account.invoice.pay.delete", [sid, ctx])
    return {"state": model("account.invoice", "read", [invoice], ["state"])[0]["state"]}


def wait(what, timeout=60.0, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    return None


def bench_won_to_posted(runs, hours="2"):
    """Per run: win a new deal in the CRM, wait for its project in Tryton, log
    time on it, wait until its invoice is posted. Prints each run's won->posted
    time and the median (milliseconds)."""
    times = []
    for index in range(int(runs)):
        made = crm_deal(f"Bench {index}", "9000.00")
        won = crm_win(made["deal"])["won_at"]
        project = wait(lambda: tryton_project(made["deal"])["projects"], timeout=120)
        if not project:
            raise SystemExit(f"run {index}: no project in Tryton for deal {made['deal']}")
        line = tryton_log_time(project[0], hours)["line"]
        posted = wait(lambda: [i for i in tryton_invoices(line)["invoices"] if i["state"] == "posted"], timeout=120)
        if not posted:
            raise SystemExit(f"run {index}: the time on project {project[0]} was not invoiced and posted")
        times.append(round((time.time() - won) * 1000))
    return {"runs_ms": times, "median_ms": statistics.median(times)}


COMMANDS = {
    "crm-deal": crm_deal, "crm-win": crm_win, "crm-reopen": crm_reopen, "crm-fields": crm_fields,
    "crm-webhook": crm_webhook, "crm-webhook-delete": crm_webhook_delete, "crm-webhook-rotate": crm_webhook_rotate,
    "crm-contact": crm_contact, "crm-account": crm_account, "crm-account-rename": crm_account_rename,
    "crm-account-address": crm_account_address,
    "tryton-party": tryton_party, "tryton-party-rename": tryton_party_rename,
    "tryton-project": tryton_project, "tryton-log-time": tryton_log_time, "tryton-invoices": tryton_invoices,
    "tryton-pay": tryton_pay, "tryton-currency": tryton_currency, "bench-won-to-posted": bench_won_to_posted,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(f"usage: o2c_systems.py {{{'|'.join(COMMANDS)}}} ARGS...")
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
