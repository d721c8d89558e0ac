import Foundation
import Hummingbird
import Mustache
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore

/// The operators' dashboard: server-rendered HTML from the same server, the
/// partner's brand, no JavaScript needed. Sign-in takes an API token and opens a
/// server-side session (DashboardSessions): the HttpOnly, SameSite=Strict cookie
/// holds the session's id, not the token, and is `Secure` when the request came
/// over TLS (through a proxy that says so). Every page and action applies the
/// token's role and tenant scope exactly as the API does.
struct Dashboard: Sendable {
    let api: AdminAPI
    let branding: Branding
    let sessions = DashboardSessions()

    static let cookie = DashboardSessions.cookie

    func register(on router: Router<AdminContext>) {
        // Who the session cookie names (if anyone), then the role each page needs; no session: the sign-in page.
        let signedIn = router.group().add(middleware: SessionCookieAuthenticator(sessions: sessions, tokens: api.tokens))
        let viewer = signedIn.group().add(middleware: RequireRole(role: .viewer, api: api, redirectToSignIn: true))
        let operatorRole = signedIn.group().add(middleware: RequireRole(role: .operator, api: api, redirectToSignIn: true))
        let admin = signedIn.group().add(middleware: RequireRole(role: .admin, api: api, redirectToSignIn: true))

        signedIn.get("/") { _, context in
            context.identity != nil ? redirect("/ui") : signIn(error: nil)
        }
        router.post("/login") { request, _ in
            let form = try await formBody(request)
            let token = (form["token"] ?? "").trimmingCharacters(in: .whitespaces)
            guard let tokens = api.tokens,
                  (try AdminTokens.principal(authorization: "Bearer \(token)", store: tokens)) != nil else {
                return signIn(error: "That token is not valid.", status: .unauthorized)
            }
            var response = redirect("/ui")
            let session = sessions.open(tokenHash: AdminTokens.hash(token))
            response.headers[.setCookie] = "\(Self.cookie)=\(session); Path=/; HttpOnly; SameSite=Strict\(secure(request))"
            return response
        }
        router.post("/logout") { request, _ in
            if let session = DashboardSessions.id(in: request) { sessions.close(session: session) }
            var response = redirect("/")
            response.headers[.setCookie] = "\(Self.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\(secure(request))"
            return response
        }
        viewer.get("/ui") { _, context in try tenantsPage(context.principal()) }
        // Registered before /ui/:tenant: "packages" is a page, not a tenant id.
        admin.get("/ui/packages") { _, context in try await packagesPage(context.principal()) }
        viewer.get("/ui/:tenant") { request, context in
            try tenantPage(context.principal(), tenant: context.parameters.require("tenant"), notice: request.uri.queryParameters.get("notice"))
        }
        viewer.get("/ui/:tenant/transactions/:id") { _, context in
            let tenant = try context.parameters.require("tenant")
            return try transactionPage(try api.transaction(context.principal(), tenant: tenant, id: context.parameters.get("id")), tenant: tenant)
        }
        for action in ["retry", "discard"] {
            operatorRole.post("/ui/:tenant/exceptions/:id/\(action)") { request, context in
                let who = try context.principal(), tenant = try context.parameters.require("tenant"), id = context.parameters.get("id")
                let form = try await formBody(request)
                let reason = (form["reason"] ?? "").isEmpty ? "from the dashboard" : form["reason"]!
                _ = try await AdminAPI.offloaded { try api.act(action, who, tenant: tenant, id: id, body: .object([("reason", .string(reason))])) }
                return redirect("/ui/\(tenant)?notice=\(action == "retry" ? "retried" : "discarded")+item+\(id ?? "")")
            }
        }
    }

    // MARK: session and forms

    /// `; Secure` when the browser reached us over TLS: the server itself speaks plain HTTP on loopback, so that is
    /// a TLS-terminating proxy's `X-Forwarded-Proto: https` (or the standard `Forwarded: proto=https`).
    func secure(_ request: Request) -> String {
        func header(_ name: String) -> String { request.headers.first { $0.name.canonicalName == name }?.value.lowercased() ?? "" }
        let forwardedProto = header("x-forwarded-proto"), forwarded = header("forwarded")
        return forwardedProto == "https" || forwarded.contains("proto=https") ? "; Secure" : ""
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
        var rows: [[String: Any]] = []
        for t in api.runtime.config.tenants where who.sees(t.id) {
            let stats = try api.runtime.store.stats(tenant: t.id)
            rows.append(["id": t.id, "name": t.name, "done": stats.done, "exceptions": stats.openExceptions])
        }
        return page("tenants", title: "Clients", who: who, ["tenants": rows])
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
        let buckets: [[String: Any]] = (0..<12).reversed().map { i in
            let start = now - Int64(i + 1) * 300_000, end = start + 300_000
            let lat = finished.filter { ($0.finishedAt ?? 0) >= start && ($0.finishedAt ?? 0) < end }.compactMap(\.latencyMillis).sorted()
            return ["when": i == 0 ? "last 5 min" : "\(i * 5)–\((i + 1) * 5) min ago", "done": lat.count,
                    "p50": Percentile.of(lat, 50).map { "\($0) ms" } ?? "–", "p95": Percentile.of(lat, 95).map { "\($0) ms" } ?? "–"]
        }
        let reasons: [[String: Any]] = stats.exceptionsByReason.sorted(by: { $0.key < $1.key }).map { reason, value in
            let money = value.blocked.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            return ["reason": reason, "count": value.count, "blocked": money.isEmpty ? "–" : money]
        }
        let paused = Dictionary(try store.pausedConnections().filter { $0.tenant == tenant }.map { ($0.connection, $0.reason) }, uniquingKeysWith: { $1 })
        let connections: [[String: Any]] = api.runtime.registry.all.filter { $0.tenant == tenant }.map { c in
            let h = c.sandboxHealth
            let state = paused[c.id].map { "paused: \($0)" } ?? (h?.circuitOpen == true ? "circuit open" : c.degraded ? "degraded" : "healthy")
            return ["id": c.id, "plugin": c.plugin.descriptor.id, "isolation": h == nil ? "in-process" : "sandbox",
                    "css": state == "healthy" ? "ok" : "bad", "state": state, "restarts": h?.restarts ?? 0]
        }
        let items: [[String: Any]] = try store.exceptions(ExceptionFilter(tenant: tenant, limit: 50)).map { item in
            ["id": item.id, "reason": item.reason, "record": item.externalID, "impact": item.amount.map { "\($0) \(item.currency ?? "")" } ?? "–",
             "why": item.diagnostics.first?.summary ?? "", "attempts": item.attempts, "owner": item.assignee ?? "–",
             "actions": who.role >= .operator]
        }
        let latest: [[String: Any]] = recent.prefix(20).map { t in
            ["id": t.id, "workflow": t.workflow, "event": t.eventType, "record": t.externalID, "status": t.status,
             "latency": t.latencyMillis.map { "\($0) ms" } ?? "–"]
        }
        let counts: [[String: Any]] = [("pending", stats.pending), ("running", stats.running), ("done", stats.done), ("parked", stats.parked),
                                       ("exceptions", stats.openExceptions)].map { ["label": $0.0, "value": $0.1] }
        var context: [String: Any] = [
            "tenant": tenant, "name": config.name, "counts": counts, "sla": sla, "slaMinutes": config.slaTargetMillis / 60_000,
            "recentCount": Self.recentTransactions, "failures": failures,
            "p50": Percentile.of(stats.latenciesMillis, 50).map { "\($0)" } ?? "–", "p95": Percentile.of(stats.latenciesMillis, 95).map { "\($0)" } ?? "–",
            "buckets": buckets, "reasons": reasons, "items": items, "connections": connections, "latest": latest,
        ]
        if let notice { context["notice"] = notice }
        return page("tenant", title: config.name, who: who, context)
    }

    /// The partner's packages: what each tenant runs, upgrades, the catalogue, the sources and the history.
    func packagesPage(_ who: Principal) async throws -> Response {
        let report = try await api.packagesReport(who, readSources: true)
        func rows(_ key: String) -> [[String: Any]] { (report.json[key]?.arrayValue ?? []).map(Self.strings) }
        var installed: [[String: Any]] = []
        for (tenant, entries) in report.tenants {
            for entry in entries {
                var row = Self.strings(entry)
                row["tenant"] = tenant
                installed.append(row)
            }
        }
        return page("packages", title: "Packages", who: who, ["installed": installed, "catalogue": rows("catalogue"),
                                                               "sources": rows("sources"), "history": rows("history")])
    }

    /// A JSON object's members as text for a template (null as empty).
    static func strings(_ json: JSON) -> [String: Any] {
        var out: [String: Any] = [:]
        for (key, value) in json.objectValue ?? [] {
            switch value {
            case .null: continue
            case .bool(let b): if b { out[key] = "yes" }
            default: out[key] = value.stringValue ?? value.numberText ?? ""
            }
        }
        return out
    }

    func transactionPage(_ t: TransactionSummary, tenant: String) throws -> Response {
        var context: [String: Any] = [
            "tenant": tenant, "id": t.id, "event": t.eventType, "record": t.externalID, "workflow": t.workflow, "status": t.status,
            "attempts": t.attempts, "latency": t.latencyMillis.map { "\($0) ms" } ?? "–",
            "steps": t.steps.map { s in ["step": s.step, "status": s.status, "time": String(format: "%.2f ms", s.millis), "detail": s.detail] },
        ]
        if let error = t.lastError { context["lastError"] = error }
        return page("transaction", title: "Transaction \(t.id)", context)
    }

    func signIn(error: String?, status: HTTPResponse.Status = .ok) -> Response {
        page("signin", title: "Sign in", error.map { ["error": $0] } ?? [:], status: status)
    }

    /// A page from its template (Sources/SwitchboardAdmin/templates), inside the branded layout. Mustache escapes
    /// every `{{value}}` for HTML: no call site has to remember to.
    func page(_ template: String, title: String, who: Principal? = nil, _ context: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var all = context
        all["title"] = title
        var brand: [String: Any] = ["name": branding.name, "primary": branding.primaryColor, "accent": branding.accentColor]
        if let logo = branding.logoURL { brand["logo"] = logo }
        all["brand"] = brand
        if let who { all["user"] = ["name": who.name, "role": who.role.rawValue] }
        let html = DashboardTemplates.library.render(all, withTemplate: template) ?? "template \(template) is missing"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The dashboard's Mustache templates, loaded once from the module's resources.
enum DashboardTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        guard let directory = Bundle.module.url(forResource: "templates", withExtension: nil),
              let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return library }
        for file in files where file.hasSuffix(".mustache") {
            guard let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8) else { continue }
            // A template that does not parse is a build-time mistake: DashboardTemplateTests renders every one.
            try? library.register(text, named: String(file.dropLast(".mustache".count)))
        }
        return library
    }()
}
