import Hummingbird
import SwitchboardCore

/// A known path asked with a method it does not serve answers 405 with `Allow` (RFC 9110 15.5.6), not 404:
/// the resource exists. Found by schemathesis (TRACE /api/v1/tenants was 404).
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Path patterns (`{name}` matches one segment) and the methods each serves.
    let allowed: [(segments: [Substring], methods: Set<String>)]

    init(routes: [(method: String, path: String)]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        allowed = byPath.map { path, methods in
            // HEAD is served wherever GET is.
            (path.split(separator: "/"), methods.contains("GET") ? methods.union(["HEAD"]) : methods)
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let segments = request.uri.path.split(separator: "/")
        let matches = allowed.filter { pattern in
            pattern.segments.count == segments.count
                && zip(pattern.segments, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
        guard !matches.isEmpty, !matches.contains(where: { $0.methods.contains(request.method.rawValue) }) else {
            return try await next(request, context)
        }
        let allow = matches.reduce(into: Set<String>()) { $0.formUnion($1.methods) }.sorted().joined(separator: ", ")
        let body = JSON.object([("error", .object([
            ("status", .number("405")), ("code", .string("method_not_allowed")),
            ("message", .string("\(request.method.rawValue) is not served here; allowed: \(allow)")),
        ]))])
        return Response(status: .methodNotAllowed, headers: [.allow: allow, .contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body.bytes)))
    }
}
