import Hummingbird
import HummingbirdAuth
import SwitchboardStore

/// The admin server's request context: who is calling, once an authenticator found out
/// (hummingbird-auth's `AuthRequestContext`).
public struct AdminContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Principal?

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
    }

    /// The authenticated principal; 401 (the API's JSON error) when there is none.
    func principal() throws -> Principal {
        guard let identity else { throw AdminError.unauthorized }
        return identity
    }
}

/// Authentication for the API: `Authorization: Bearer TOKEN` names a stored, unrevoked token.
struct BearerTokenAuthenticator: AuthenticatorMiddleware {
    typealias Context = AdminContext
    let tokens: (any TokenStore)?

    func authenticate(request: Request, context: AdminContext) async throws -> Principal? {
        guard let tokens else { return nil }
        return try AdminTokens.principal(authorization: request.headers[.authorization], store: tokens)
    }
}

/// Authentication for the dashboard: its session cookie names a live server-side session (DashboardSessions),
/// whose token is looked up again, so a revoked token ends its sessions at once.
struct SessionCookieAuthenticator: AuthenticatorMiddleware {
    typealias Context = AdminContext
    let sessions: DashboardSessions
    let tokens: (any TokenStore)?

    func authenticate(request: Request, context: AdminContext) async throws -> Principal? {
        guard let tokens, let id = DashboardSessions.id(in: request), let hash = sessions.tokenHash(session: id) else { return nil }
        return try AdminTokens.principal(tokenHash: hash, store: tokens)
    }
}

/// Authorisation, in the order the API answers: no principal 401; a `:tenant` of the path out of the principal's
/// scope (or unknown) 404, so a tenant's token cannot learn that other tenants exist; a role below `role` 403.
struct RequireRole: RouterMiddleware {
    typealias Context = AdminContext
    let role: AdminRole
    let api: AdminAPI
    /// The dashboard sends a visitor without a session to the sign-in page instead of a 401.
    var redirectToSignIn = false

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        guard let who = context.identity else {
            if redirectToSignIn { return Response(status: .seeOther, headers: [.location: "/"]) }
            throw AdminError.unauthorized
        }
        if let tenant = context.parameters.get("tenant") { try api.requireVisible(tenant, to: who) }
        guard who.role >= role else { throw AdminError.forbidden(role) }
        return try await next(request, context)
    }
}
