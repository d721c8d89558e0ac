import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SwitchboardCore
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardSandbox
import SwitchboardStore

/// The HTTP server inside `switchboard run`: health, webhook ingress and the
/// admin API (docs/ADMIN-API.md; the contract is Sources/SwitchboardAdmin/openapi.json).
public enum AdminServer {
    public static let apiBodyLimit = 1 << 20
    public static let hookBodyLimit = 1 << 20

    /// The application, ready to run as a ServiceLifecycle service.
    public static func application(runtime: Runtime, host: String, port: Int, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        Application(router: router(runtime: runtime), configuration: .init(address: .hostname(host, port: port), serverName: nil),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Every route (the OpenAPI test checks this list against the document).
    public static let routes: [(method: String, path: String)] = [
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/api/v1/openapi.json"),
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
    ]

    static func router(runtime: Runtime) -> Router<BasicRequestContext> {
        let api = AdminAPI(runtime: runtime)
        let router = Router()
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
                return try api.act(action, who, tenant: tenant, id: context.parameters.get("id"), body: body)
            }
        }
        return router
    }
}
