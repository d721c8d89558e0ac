import SwitchboardCore

/// What one connection may do on the network, from its `egress:` config.
public struct EgressPolicy: Sendable {
    /// `host` or `host:port` entries; nothing else is reachable.
    public var allow: [String]
    public var connectTimeoutMillis: Int64 = 5_000
    public var readTimeoutMillis: Int64 = 30_000
    public var maxResponseBytes: Int = 10 * 1024 * 1024
    /// Token bucket: requests per second and burst; at most `concurrency` requests in flight.
    public var ratePerSecond: Double?
    public var burst: Int = 1
    public var concurrency: Int = 8
    public var auth: EgressAuth = .none
    /// Lets the plugin's own `Authorization` header through: only for a plugin that
    /// logs in itself (e.g. a session token from a login call) on a connection that
    /// allows it raw secrets and has no host `auth:`. Otherwise the host owns credentials.
    public var pluginAuthorization = false
    /// How metrics name the connection (tenant/connection).
    public var connectionLabel = "-"

    public init(allow: [String]) { self.allow = allow }
}

/// The credentials the host injects. Values are secret references
/// (`vault:NAME` or `env:VAR`) resolved per request: the plugin never holds them.
public enum EgressAuth: Sendable {
    case none
    case bearer(token: String)
    case basic(username: String, password: String)
    case apiKey(header: String, value: String)
    case oauth2ClientCredentials(tokenURL: String, clientID: String, clientSecret: String, scope: String?)
    case oauth2RefreshToken(tokenURL: String, clientID: String, clientSecret: String?, refreshToken: String)

    /// Every secret reference this scheme uses (checked at start-up).
    public var references: [String] {
        switch self {
        case .none: []
        case .bearer(let t): [t]
        case .basic(let u, let p): [u, p]
        case .apiKey(_, let v): [v]
        case .oauth2ClientCredentials(_, let id, let secret, _): [id, secret]
        case .oauth2RefreshToken(_, let id, let secret, let refresh): [id, refresh] + (secret.map { [$0] } ?? [])
        }
    }
}
