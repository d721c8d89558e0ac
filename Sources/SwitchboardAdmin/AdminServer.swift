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

    /// `GET /metrics` alone on its own port (`switchboard run --metrics-port`): the same handler as the admin
    /// server's, run as a ServiceLifecycle service beside it, so both drain and stop with the host.
    public static func metricsApplication(runtime: Runtime, host: String, port: Int, logger: Logger,
                                          metrics: @escaping @Sendable () -> String,
                                          onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        let router = Router(context: AdminContext.self)
        addMetricsRoute(to: router, api: AdminAPI(runtime: runtime), metrics: metrics)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// The Prometheus scrape. No token: the operator's scrape (docs/ADMIN-API.md: bind to loopback or a proxy). A
    /// tenant's token sees only its own tenant's series and the host's own (found by the contract run: it saw every tenant's).
    static func addMetricsRoute(to router: Router<AdminContext>, api: AdminAPI, metrics: @escaping @Sendable () -> String) {
        router.group("/metrics").add(middleware: BearerTokenAuthenticator(tokens: api.tokens)).get { request, context in
            var text = metrics()
            if request.headers[.authorization] != nil, let tenant = try context.principal().tenant {
                text = MetricsScope.only(tenant: tenant, in: text)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
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
        ("GET", "/api/v1/packages"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens/{name}/revoke"),
    ]

    static func router(runtime: Runtime, branding: Branding = Branding(), metrics: (@Sendable () -> String)? = nil) -> Router<AdminContext> {
        let api = AdminAPI(runtime: runtime)
        let router = Router(context: AdminContext.self)
        router.middlewares.add(MethodNotAllowedMiddleware(routes: routes))
        if let metrics { addMetricsRoute(to: router, api: api, metrics: metrics) }
        Dashboard(api: api, branding: branding).register(on: router)
        router.get("/healthz") { _, _ in JSON.object([("status", .string("ok"))]).response() }
        router.get("/readyz") { _, _ in try api.ready() }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: AdminAPI.openAPIDocument)))
        }
        // The connection's plugin authenticates a webhook delivery (its signature), not a token.
        router.post("/hooks/:tenant/:connection") { request, context in
            try await api.hook(request, tenant: context.parameters.require("tenant"), connection: context.parameters.require("connection"))
        }

        // The API: a bearer token, then the role each route needs (and a path's tenant in the token's scope).
        let authenticated = router.group("/api/v1").add(middleware: BearerTokenAuthenticator(tokens: api.tokens))
        let viewer = authenticated.group().add(middleware: RequireRole(role: .viewer, api: api))
        let operatorRole = authenticated.group().add(middleware: RequireRole(role: .operator, api: api))
        let admin = authenticated.group().add(middleware: RequireRole(role: .admin, api: api))

        viewer.get("/tenants") { _, context in try api.tenants(context.principal()) }
        viewer.get("/tenants/:tenant/stats") { _, context in
            try api.stats(context.principal(), tenant: context.parameters.require("tenant"))
        }
        viewer.get("/tenants/:tenant/connections") { _, context in
            try api.connections(context.principal(), tenant: context.parameters.require("tenant"))
        }
        for (verb, paused) in [("pause", true), ("resume", false)] {
            operatorRole.post("/tenants/:tenant/connections/:connection/\(verb)") { request, context in
                let body = try await api.body(request)
                return try api.setPaused(context.principal(), tenant: context.parameters.require("tenant"),
                                         connection: context.parameters.require("connection"), paused: paused,
                                         reason: try AdminAPI.requiredString(body, "reason"))
            }
        }
        viewer.get("/tenants/:tenant/exceptions") { request, context in
            try api.exceptions(context.principal(), tenant: context.parameters.require("tenant"), query: request.uri.queryParameters)
        }
        viewer.get("/tenants/:tenant/exceptions/:id") { _, context in
            try AdminAPI.itemJSON(api.item(context.principal(), tenant: context.parameters.require("tenant"), id: context.parameters.get("id"))).response()
        }
        for action in ["retry", "discard", "assign"] {
            operatorRole.post("/tenants/:tenant/exceptions/:id/\(action)") { request, context in
                let who = try context.principal(), tenant = try context.parameters.require("tenant"), id = context.parameters.get("id")
                let body = try await api.body(request)
                // A retry may re-read the source (an HTTP call to the outside system): off the cooperative pool.
                return try await AdminAPI.offloaded { try api.act(action, who, tenant: tenant, id: id, body: body) }
            }
        }
        operatorRole.post("/tenants/:tenant/connections/:connection/check") { _, context in
            try api.check(context.principal(), tenant: context.parameters.require("tenant"), connection: context.parameters.require("connection"))
        }
        viewer.get("/tenants/:tenant/workflows") { _, context in
            try api.workflows(context.principal(), tenant: context.parameters.require("tenant"))
        }
        viewer.get("/tenants/:tenant/transactions") { request, context in
            try api.transactions(context.principal(), tenant: context.parameters.require("tenant"), query: request.uri.queryParameters)
        }
        viewer.get("/tenants/:tenant/transactions/:id") { _, context in
            AdminAPI.transactionJSON(try api.transaction(context.principal(), tenant: context.parameters.require("tenant"),
                                                         id: context.parameters.get("id")), steps: true).response()
        }
        viewer.get("/tenants/:tenant/xref") { request, context in
            try api.xref(context.principal(), tenant: context.parameters.require("tenant"), query: request.uri.queryParameters)
        }
        viewer.get("/plugins") { _, context in try api.plugins(context.principal()) }
        admin.get("/tokens") { _, context in try api.tokenList(context.principal()) }
        admin.post("/tokens") { request, context in try api.tokenCreate(context.principal(), body: try await api.body(request)) }
        admin.post("/tokens/:name/revoke") { _, context in
            try api.tokenRevoke(context.principal(), name: context.parameters.require("name"))
        }
        viewer.get("/audit") { request, context in try api.audit(context.principal(), query: request.uri.queryParameters) }
        admin.get("/packages") { _, context in try await api.packagesReport(context.principal(), readSources: true).json.response() }
        return router
    }
}
