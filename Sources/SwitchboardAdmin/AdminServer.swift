import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SwitchboardCore
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardStore

/// The HTTP server inside `switchboard run`: health, webhook ingress and the
/// admin API (docs/ADMIN-API.md; the contract is Sources/SwitchboardAdmin/openapi.json).
public enum AdminServer {
    public static let apiBodyLimit = 1 << 20
    public static let hookBodyLimit = 1 << 20

    /// The application, ready to run as a ServiceLifecycle service.
    /// `metrics` renders the Prometheus text for `GET /metrics` (nil: no metrics route).
    public static func application(runtime: Runtime, host: String, port: Int, logger: Logger,
                                   branding: Branding = Branding(),
                                   metrics: (@Sendable () -> String)? = nil,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        Application(router: router(runtime: runtime, branding: branding, metrics: metrics),
                    configuration: .init(address: .hostname(host, port: port), serverName: nil),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Every route (the OpenAPI test checks this list against the document).
    public static let routes: [(method: String, path: String)] = [
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/api/v1/openapi.json"),
        ("POST", "/hooks/{tenant}/{connection}"),
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/tenants/{tenant}/stats"),
        ("GET", "/api/v1/tenants/{tenant}/connections"),
        ("POST", "/api/v1/tenants/{tenant}/connections/{connection}/pause"),
        ("POST", "/api/v1/tenants/{tenant}/connections/{connection}/resume"),
        ("GET", "/api/v1/tenants/{tenant}/exceptions"),
        ("GET", "/api/v1/tenants/{tenant}/exceptions/{id}"),
        ("POST", "/api/v1/tenants/{tenant}/exceptions/{id}/retry"),
        ("POST", "/api/v1/tenants/{tenant}/exceptions/{id}/discard"),
        ("POST", "/api/v1/tenants/{tenant}/exceptions/{id}/assign"),
        ("POST", "/api/v1/tenants/{tenant}/connections/{connection}/check"),
        ("GET", "/api/v1/tenants/{tenant}/workflows"),
        ("GET", "/api/v1/tenants/{tenant}/transactions"),
        ("GET", "/api/v1/tenants/{tenant}/transactions/{id}"),
        ("GET", "/api/v1/tenants/{tenant}/xref"),
        ("GET", "/api/v1/plugins"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens/{name}/revoke"),
    ]

    static func router(runtime: Runtime, branding: Branding = Branding(), metrics: (@Sendable () -> String)? = nil) -> Router<BasicRequestContext> {
        let api = AdminAPI(runtime: runtime)
        let router = Router()
        router.middlewares.add(MethodNotAllowedMiddleware(routes: routes))
        if let metrics {
            router.get("/metrics") { request, _ in
                // No token: the operator's scrape (docs/ADMIN-API.md: bind to loopback or a proxy). A tenant's token sees
                // only its own tenant's series and the host's own (found by the contract run: it saw every tenant's).
                var text = metrics()
                if request.headers[.authorization] != nil, let tenant = try api.authorize(request, .viewer, tenant: nil).tenant {
                    text = MetricsScope.only(tenant: tenant, in: text)
                }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        Dashboard(api: api, branding: branding).register(on: router)
        router.get("/healthz") { _, _ in JSON.object([("status", .string("ok"))]).response() }
        router.get("/readyz") { _, _ in try api.ready() }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: AdminAPI.openAPIDocument)))
        }
        router.post("/hooks/:tenant/:connection") { request, context in
            try await api.hook(request, tenant: context.parameters.require("tenant"), connection: context.parameters.require("connection"))
        }
        router.get("/api/v1/tenants") { request, _ in try api.tenants(api.authorize(request, .viewer, tenant: nil)) }
        router.get("/api/v1/tenants/:tenant/stats") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.stats(api.authorize(request, .viewer, tenant: tenant), tenant: tenant)
        }
        router.get("/api/v1/tenants/:tenant/connections") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.connections(api.authorize(request, .viewer, tenant: tenant), tenant: tenant)
        }
        for (verb, paused) in [("pause", true), ("resume", false)] {
            router.post("/api/v1/tenants/:tenant/connections/:connection/\(verb)") { request, context in
                let tenant = try context.parameters.require("tenant")
                let who = try api.authorize(request, .operator, tenant: tenant)
                let body = try await api.body(request)
                return try api.setPaused(who, tenant: tenant, connection: context.parameters.require("connection"), paused: paused,
                                         reason: try AdminAPI.requiredString(body, "reason"))
            }
        }
        router.get("/api/v1/tenants/:tenant/exceptions") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.exceptions(api.authorize(request, .viewer, tenant: tenant), tenant: tenant, query: request.uri.queryParameters)
        }
        router.get("/api/v1/tenants/:tenant/exceptions/:id") { request, context in
            let tenant = try context.parameters.require("tenant")
            let who = try api.authorize(request, .viewer, tenant: tenant)
            return try AdminAPI.itemJSON(api.item(who, tenant: tenant, id: context.parameters.get("id"))).response()
        }
        for action in ["retry", "discard", "assign"] {
            router.post("/api/v1/tenants/:tenant/exceptions/:id/\(action)") { request, context in
                let tenant = try context.parameters.require("tenant")
                let who = try api.authorize(request, .operator, tenant: tenant)
                let body = try await api.body(request)
                let id = context.parameters.get("id")
                // A retry may re-read the source (an HTTP call to the outside system): off the cooperative pool.
                return try await AdminAPI.offloaded { try api.act(action, who, tenant: tenant, id: id, body: body) }
            }
        }
        router.post("/api/v1/tenants/:tenant/connections/:connection/check") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.check(api.authorize(request, .operator, tenant: tenant), tenant: tenant,
                                 connection: context.parameters.require("connection"))
        }
        router.get("/api/v1/tenants/:tenant/workflows") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.workflows(api.authorize(request, .viewer, tenant: tenant), tenant: tenant)
        }
        router.get("/api/v1/tenants/:tenant/transactions") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.transactions(api.authorize(request, .viewer, tenant: tenant), tenant: tenant, query: request.uri.queryParameters)
        }
        router.get("/api/v1/tenants/:tenant/transactions/:id") { request, context in
            let tenant = try context.parameters.require("tenant")
            let who = try api.authorize(request, .viewer, tenant: tenant)
            return AdminAPI.transactionJSON(try api.transaction(who, tenant: tenant, id: context.parameters.get("id")), steps: true).response()
        }
        router.get("/api/v1/tenants/:tenant/xref") { request, context in
            let tenant = try context.parameters.require("tenant")
            return try api.xref(api.authorize(request, .viewer, tenant: tenant), tenant: tenant, query: request.uri.queryParameters)
        }
        router.get("/api/v1/plugins") { request, _ in try api.plugins(api.authorize(request, .viewer, tenant: nil)) }
        router.get("/api/v1/tokens") { request, _ in try api.tokenList(api.authorize(request, .admin, tenant: nil)) }
        router.post("/api/v1/tokens") { request, _ in
            let who = try api.authorize(request, .admin, tenant: nil)
            return try api.tokenCreate(who, body: try await api.body(request))
        }
        router.post("/api/v1/tokens/:name/revoke") { request, context in
            try api.tokenRevoke(api.authorize(request, .admin, tenant: nil), name: context.parameters.require("name"))
        }
        router.get("/api/v1/audit") { request, _ in try api.audit(api.authorize(request, .viewer, tenant: nil), query: request.uri.queryParameters) }
        return router
    }
}
