import Foundation
import Hummingbird
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore

/// The operators' dashboard: server-rendered HTML from the same server, the
/// partner's brand, no JavaScript needed. Sign-in takes an API token and keeps
/// it in an HttpOnly, SameSite=Strict cookie; every page and action applies the
/// token's role and tenant scope exactly as the API does.
struct Dashboard: Sendable {
    let api: AdminAPI
    let branding: Branding

    static let cookie = "sb_session"

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in
            if (try? principal(request)) != nil { return redirect("/ui") }
            return page(title: "Sign in", body: signInForm(error: nil))
        }
        router.post("/login") { request, _ in
            let form = try await formBody(request)
            let token = form["token"] ?? ""
            guard let tokens = api.tokens,
                  (try AdminTokens.principal(authorization: "Bearer \(token)", store: tokens)) != nil else {
                return page(title: "Sign in", body: signInForm(error: "That token is not valid."), status: .unauthorized)
            }
            var response = redirect("/ui")
            response.headers[.setCookie] = "\(Self.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict"
            return response
        }
        router.post("/logout") { _, _ in
            var response = redirect("/")
            response.headers[.setCookie] = "\(Self.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        }
        router.get("/ui") { request, _ in
            guard let who = try? principal(request) else { return redirect("/") }
            return try tenantsPage(who)
        }
        router.get("/ui/:tenant") { request, context in
            guard let who = try? principal(request) else { return redirect("/") }
            let tenant = try context.parameters.require("tenant")
            try api.requireVisible(tenant, to: who)
            return try tenantPage(who, tenant: tenant, notice: request.uri.queryParameters.get("notice"))
        }
        router.get("/ui/:tenant/transactions/:id") { request, context in
            guard let who = try? principal(request) else { return redirect("/") }
            let tenant = try context.parameters.require("tenant")
            try api.requireVisible(tenant, to: who)
            return try transactionPage(try api.transaction(who, tenant: tenant, id: context.parameters.get("id")), tenant: tenant)
        }
        for action in ["retry", "discard"] {
            router.post("/ui/:tenant/exceptions/:id/\(action)") { request, context in
                guard let who = try? principal(request) else { return redirect("/") }
                let tenant = try context.parameters.require("tenant")
                try api.requireVisible(tenant, to: who)
                guard who.role >= .operator else { throw AdminError.forbidden(.operator) }
                let id = context.parameters.get("id")
                let form = try await formBody(request)
                let reason = (form["reason"] ?? "").isEmpty ? "from the dashboard" : form["reason"]!
                _ = try await AdminAPI.offloaded { try api.act(action, who, tenant: tenant, id: id, body: .object([("reason", .string(reason))])) }
                return redirect("/ui/\(tenant)?notice=\(action == "retry" ? "retried" : "discarded")+item+\(id ?? "")")
            }
        }
    }

    // MARK: session and forms

    func principal(_ request: Request) throws -> Principal {
        let cookies = (request.headers[.cookie] ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let token = cookies.first(where: { $0.hasPrefix(Self.cookie + "=") })?.dropFirst(Self.cookie.count + 1),
              let tokens = api.tokens, let who = try AdminTokens.principal(authorization: "Bearer \(token)", store: tokens) else {
            throw AdminError.unauthorized
        }
        return who
    }

    func formBody(_ request: Request) async throws -> [String: String] {
        let bytes = try await api.collect(request, limit: 64 * 1024)
        var out: [String: String] = [:]
        for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if parts.count == 2 { out[parts[0]] = parts[1] } else if parts.count == 1 { out[parts[0]] = "" }
        }
        return out
    }

    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    // MARK: pages

    func tenantsPage(_ who: Principal) throws -> Response {
        var rows = ""
        for t in api.runtime.config.tenants where who.sees(t.id) {
            let stats = try api.runtime.store.stats(tenant: t.id)
            rows += "<tr><td><a href=\"/ui/\(esc(t.id))\">\(esc(t.name))</a></td><td data-testid=\"done-\(esc(t.id))\">\(stats.done)</td>"
                + "<td data-testid=\"exceptions-\(esc(t.id))\">\(stats.openExceptions)</td></tr>"
        }
        return page(title: "Clients", who: who, body: """
            <h1>Clients</h1>
            <table><tr><th>Client</th><th>Transactions done</th><th>Open exceptions</th></tr>\(rows)</table>
            """)
    }

    /// How many of a tenant's latest transactions the page's SLA %, failures and hourly buckets cover.
    static let recentTransactions = 2_000

    func tenantPage(_ who: Principal, tenant: String, notice: String?) throws -> Response {
        guard let config = api.runtime.config.tenant(tenant) else { throw AdminError.notFound("no tenant \"\(tenant)\"") }
        let store = api.runtime.store
        let stats = try store.stats(tenant: tenant)
        let now = Clock.nowMillis()
        // The page's figures cover the latest transactions only: a bounded read whatever the store holds.
        let recent = try api.transactionStore.transactions({
            var f = TransactionFilter(tenant: tenant)
            f.limit = Self.recentTransactions
            return f
        }())
        let finished = recent.filter { $0.status == "done" }
        let withinSLA = finished.filter { ($0.latencyMillis ?? .max) <= config.slaTargetMillis }.count
        let sla = finished.isEmpty ? "–" : String(format: "%.1f%%", Double(withinSLA) * 100 / Double(finished.count))
        let failures = recent.filter { $0.status == "exception" || $0.lastStatus != nil && $0.status != "done" }.count

        // Latency over the last hour, in 5-minute buckets.
        var buckets = ""
        for i in (0..<12).reversed() {
            let start = now - Int64(i + 1) * 300_000, end = start + 300_000
            let lat = finished.filter { ($0.finishedAt ?? 0) >= start && ($0.finishedAt ?? 0) < end }.compactMap(\.latencyMillis).sorted()
            let p50 = Percentile.of(lat, 50).map { "\($0) ms" } ?? "–"
            let p95 = Percentile.of(lat, 95).map { "\($0) ms" } ?? "–"
            buckets += "<tr><td>\(i == 0 ? "last 5 min" : "\(i * 5)–\((i + 1) * 5) min ago")</td><td>\(lat.count)</td><td>\(p50)</td><td>\(p95)</td></tr>"
        }
        let p50 = Percentile.of(stats.latenciesMillis, 50).map { "\($0)" } ?? "–"
        let p95 = Percentile.of(stats.latenciesMillis, 95).map { "\($0)" } ?? "–"

        var reasons = ""
        for (reason, value) in stats.exceptionsByReason.sorted(by: { $0.key < $1.key }) {
            let money = value.blocked.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            reasons += "<tr><td>\(esc(reason))</td><td data-testid=\"reason-count-\(esc(reason))\">\(value.count)</td>"
                + "<td data-testid=\"reason-blocked-\(esc(reason))\">\(esc(money.isEmpty ? "–" : money))</td></tr>"
        }

        let paused = Dictionary(try store.pausedConnections().filter { $0.tenant == tenant }.map { ($0.connection, $0.reason) }, uniquingKeysWith: { $1 })
        var health = ""
        for c in api.runtime.registry.all where c.tenant == tenant {
            let h = c.sandboxHealth
            let state = paused[c.id].map { "paused: \($0)" } ?? (h?.circuitOpen == true ? "circuit open" : c.degraded ? "degraded" : "healthy")
            let css = state == "healthy" ? "ok" : "bad"
            health += "<tr><td>\(esc(c.id))</td><td>\(esc(c.plugin.descriptor.id))</td><td>\(h == nil ? "in-process" : "sandbox")</td>"
                + "<td class=\"\(css)\" data-testid=\"health-\(esc(c.id))\">\(esc(state))</td><td>\(h?.restarts ?? 0)</td></tr>"
        }

        let items = try store.exceptions(ExceptionFilter(tenant: tenant, limit: 50))
        var queue = ""
        for item in items {
            let impact = item.amount.map { "\($0) \(item.currency ?? "")" } ?? "–"
            let actions = who.role >= .operator ? """
                <form method="post" action="/ui/\(esc(tenant))/exceptions/\(item.id)/retry"><button data-testid="retry-\(item.id)">Retry</button></form>
                <form method="post" action="/ui/\(esc(tenant))/exceptions/\(item.id)/discard"><button data-testid="discard-\(item.id)">Discard</button></form>
                """ : ""
            queue += "<tr data-testid=\"exception-\(item.id)\"><td>\(item.id)</td><td>\(esc(item.reason))</td><td>\(esc(item.externalID))</td>"
                + "<td>\(esc(impact))</td><td>\(esc(item.diagnostics.first?.summary ?? ""))</td><td>\(item.attempts)</td>"
                + "<td>\(esc(item.assignee ?? "–"))</td><td class=\"actions\">\(actions)</td></tr>"
        }

        var latest = ""
        for t in recent.prefix(20) {
            latest += "<tr><td><a href=\"/ui/\(esc(tenant))/transactions/\(t.id)\">\(t.id)</a></td><td>\(esc(t.workflow))</td>"
                + "<td>\(esc(t.eventType))</td><td>\(esc(t.externalID))</td><td>\(esc(t.status))</td>"
                + "<td>\(t.latencyMillis.map { "\($0) ms" } ?? "–")</td></tr>"
        }
        let counts = [("pending", stats.pending), ("running", stats.running), ("done", stats.done), ("parked", stats.parked),
                      ("exceptions", stats.openExceptions)]
        let tiles = counts.map { "<div class=\"tile\"><div class=\"n\" data-testid=\"count-\($0.0)\">\($0.1)</div><div>\($0.0)</div></div>" }.joined()
        return page(title: config.name, who: who, body: """
            \(notice.map { "<p class=\"notice\">\(esc($0))</p>" } ?? "")
            <h1>\(esc(config.name))</h1>
            <section class="tiles">\(tiles)
              <div class="tile"><div class="n" data-testid="sla">\(sla)</div><div>within SLA (\(config.slaTargetMillis / 60_000) min), latest \(Self.recentTransactions)</div></div>
              <div class="tile"><div class="n" data-testid="failures">\(failures)</div><div>failures</div></div>
              <div class="tile"><div class="n" data-testid="latency-p50">\(p50)</div><div>p50 ms</div></div>
              <div class="tile"><div class="n" data-testid="latency-p95">\(p95)</div><div>p95 ms</div></div>
            </section>
            <h2>Latency, last hour</h2>
            <table><tr><th>When</th><th>Done</th><th>p50</th><th>p95</th></tr>\(buckets)</table>
            <h2>Exception queue: money blocked by reason</h2>
            <table><tr><th>Reason</th><th>Items</th><th>Blocked</th></tr>\(reasons)</table>
            <h2>Exception items</h2>
            <table><tr><th>#</th><th>Reason</th><th>Record</th><th>Impact</th><th>Why</th><th>Attempts</th><th>Owner</th><th></th></tr>\(queue)</table>
            <h2>Connections</h2>
            <table><tr><th>Connection</th><th>Plugin</th><th>Isolation</th><th>Health</th><th>Restarts</th></tr>\(health)</table>
            <h2>Latest transactions</h2>
            <table><tr><th>#</th><th>Workflow</th><th>Event</th><th>Record</th><th>Status</th><th>Latency</th></tr>\(latest)</table>
            """)
    }

    func transactionPage(_ t: TransactionSummary, tenant: String) throws -> Response {
        let steps = t.steps.map { s in
            "<tr><td>\(esc(s.step))</td><td>\(esc(s.status))</td><td>\(String(format: "%.2f", s.millis)) ms</td><td>\(esc(s.detail))</td></tr>"
        }.joined()
        return page(title: "Transaction \(t.id)", body: """
            <p><a href="/ui/\(esc(tenant))">← back</a></p>
            <h1>Transaction \(t.id): \(esc(t.eventType)) \(esc(t.externalID))</h1>
            <p>Workflow \(esc(t.workflow)) · status <b data-testid="tx-status">\(esc(t.status))</b> · \(t.attempts) attempt(s)
               · latency \(t.latencyMillis.map { "\($0) ms" } ?? "–")\(t.lastError.map { " · last error: \(esc($0))" } ?? "")</p>
            <table><tr><th>Step</th><th>Status</th><th>Time</th><th>Detail</th></tr>\(steps)</table>
            """)
    }

    func signInForm(error: String?) -> String {
        """
        <h1>Sign in</h1>
        \(error.map { "<p class=\"bad\">\(esc($0))</p>" } ?? "")
        <form method="post" action="/login"><label>API token <input type="password" name="token" id="token" autocomplete="off"></label>
        <button id="signin">Sign in</button></form>
        """
    }

    func page(title: String, who: Principal? = nil, body: String, status: HTTPResponse.Status = .ok) -> Response {
        let logo = branding.logoURL.map { "<img src=\"\(esc($0))\" alt=\"\" class=\"logo\">" } ?? ""
        let user = who.map { w in
            "<span>\(esc(w.name)) · \(w.role.rawValue)</span><form method=\"post\" action=\"/logout\"><button>Sign out</button></form>"
        } ?? ""
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(esc(title)) · \(esc(branding.name))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            :root { --primary: \(branding.primaryColor); --accent: \(branding.accentColor); }
            body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; }
            header { background: var(--primary); color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
            header a { color: #fff; text-decoration: none; font-weight: 600; } header form { display: inline; margin-left: auto; }
            .logo { height: 28px; } main { padding: 16px 20px; } table { border-collapse: collapse; margin: 8px 0 20px; }
            th, td { border-bottom: 1px solid #d0d7de; padding: 4px 10px; text-align: left; } th { background: #f6f8fa; }
            .tiles { display: flex; flex-wrap: wrap; gap: 12px; } .tile { border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 16px; min-width: 110px; }
            .tile .n { font-size: 24px; font-weight: 700; color: var(--primary); } .ok { color: #1a7f37; } .bad { color: #cf222e; }
            .notice { background: var(--accent); color: #fff; padding: 6px 10px; border-radius: 4px; } .actions form { display: inline; }
            </style></head><body>
            <header>\(logo)<a href="/ui" data-testid="brand">\(esc(branding.name))</a>\(user)</header>
            <main>\(body)</main></body></html>
            """
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// HTML-escapes text for element content and attribute values.
func esc(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}
