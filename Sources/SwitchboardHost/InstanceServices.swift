import Logging
import SwitchboardCore

/// The host services one plugin instance sees. Everything here is already
/// scoped to the instance's tenant and connection: a plugin cannot name
/// another connection's secrets or state.
public struct InstanceServices: Sendable {
    public var tenant: String
    public var connection: String
    public var logger: Logger
    public var secrets: (any SecretResolver)?
    /// The operator allowed this connection's plugin to read raw secret values
    /// (it must also declare SB_CAP_RAW_SECRETS).
    public var rawSecretsAllowed: Bool
    public var state: any InstanceStateStore
    public var egress: (any EgressClient)?
    public var metrics: (any PluginMetricsSink)?

    public init(tenant: String = "-", connection: String = "-", logger: Logger = Logger(label: "switchboard.plugin"),
                secrets: (any SecretResolver)? = nil, rawSecretsAllowed: Bool = false,
                state: any InstanceStateStore = MemoryStateStore(), egress: (any EgressClient)? = nil,
                metrics: (any PluginMetricsSink)? = nil) {
        self.tenant = tenant
        self.connection = connection
        self.logger = logger
        self.secrets = secrets
        self.rawSecretsAllowed = rawSecretsAllowed
        self.state = state
        self.egress = egress
        self.metrics = metrics
    }
}

/// Resolves a secret reference of one connection to its value.
public protocol SecretResolver: Sendable {
    func secret(named name: String) throws -> [UInt8]?
}

/// The durable key/value state private to one connection.
public protocol InstanceStateStore: Sendable {
    func value(forKey key: String) throws -> [UInt8]?
    func setValue(_ value: [UInt8], forKey key: String) throws
}

/// HTTP egress on behalf of one connection (allowlist, auth injection, limits).
public protocol EgressClient: Sendable {
    func send(_ request: EgressRequest) -> EgressResult
}

public struct EgressRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var timeoutMilliseconds: Int
    public var injectAuth: Bool

    public init(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutMilliseconds: Int,
                injectAuth: Bool) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
        self.injectAuth = injectAuth
    }
}

public enum EgressResult: Sendable {
    case response(status: Int, headers: [(name: String, value: String)], body: [UInt8])
    case failed(OperationStatus, Diagnostic)
}

/// Receives metrics a plugin records (later issues route these to Prometheus).
public protocol PluginMetricsSink: Sendable {
    func record(kind: PluginMetricKind, name: String, value: Double, labels: [String: String])
}

public enum PluginMetricKind: Int32, Sendable { case counter = 1, gauge = 2, histogram = 3 }
