/// A plugin: one instance per configured connection. The host serialises
/// calls on one instance and runs different instances concurrently, so keep
/// per-connection state in stored properties, never in globals.
public protocol SwitchboardPlugin: AnyObject {
    /// Read before anything else; must be constant.
    static var manifest: PluginManifest { get }
    /// JSON Schema (draft 2020-12) of the plugin's configuration.
    static var configSchema: String { get }
    /// Checks a configuration without I/O. Return one diagnostic per problem, each with its field path.
    static func validate(config: [UInt8]) -> [PluginDiagnostic]
    /// Creates the instance for one connection. Called only with a config `validate` accepted.
    init(config: [UInt8], host: HostCall) throws
    /// Releases what the instance holds. The default does nothing.
    func close(host: HostCall)
}

extension SwitchboardPlugin {
    public func close(host: HostCall) {}
}

/// A plugin that talks to an outside system. Implement the operations your
/// manifest's capabilities declare; the others are never called.
public protocol ConnectorPlugin: SwitchboardPlugin {
    /// Throws `.auth` for rejected credentials, `.config` for a wrong setting, `.retry` when unreachable.
    func checkConnection(host: HostCall) throws
    /// Returns the catalog JSON: streams read, entities written, events produced.
    func discover(host: HostCall) throws -> String
    /// Emits records changed since `request.state`, then the new state.
    func read(_ request: ReadRequest, host: HostCall) throws
    /// Upserts one record idempotently; returns its external id.
    func write(_ request: WriteRequest, host: HostCall) throws -> String
    /// Turns one inbound webhook into events (`host.emitEvent`).
    func handleWebhook(_ request: WebhookRequest, host: HostCall) throws
    /// Reads one record as the source holds it now and emits it as `read` would: the event `request.eventType` if the
    /// record still makes it, else the record, else nothing (ABI 1.1; declare `.fetch`).
    func fetch(_ request: FetchRequest, host: HostCall) throws
}

extension ConnectorPlugin {
    public func checkConnection(host: HostCall) throws { throw PluginError.fatal("check_connection is not implemented") }
    public func discover(host: HostCall) throws -> String { throw PluginError.fatal("discover is not implemented") }
    public func read(_ request: ReadRequest, host: HostCall) throws { throw PluginError.fatal("read is not implemented") }
    public func write(_ request: WriteRequest, host: HostCall) throws -> String { throw PluginError.fatal("write is not implemented") }
    public func handleWebhook(_ request: WebhookRequest, host: HostCall) throws {
        throw PluginError.fatal("handle_webhook is not implemented")
    }
    public func fetch(_ request: FetchRequest, host: HostCall) throws { throw PluginError.fatal("fetch is not implemented") }
}

/// A plugin that reacts to canonical events with commands (`host.emitCommand`).
public protocol WorkflowPlugin: SwitchboardPlugin {
    func onEvent(type: String, event: [UInt8], host: HostCall) throws
}

/// Arguments of `read`.
public struct ReadRequest: Sendable {
    public var stream: String
    /// The last committed state of this stream; empty on a first sync.
    public var state: [UInt8]
    /// A hint: stop after about this many records (0 = no hint).
    public var maxRecords: Int
}

/// Arguments of `write`.
public struct WriteRequest: Sendable {
    public var entity: String
    public var idempotencyKey: String
    /// The target's id for this record if known, else empty (create).
    public var externalID: String
    public var record: [UInt8]
}

/// Arguments of `fetch`.
public struct FetchRequest: Sendable {
    /// The canonical entity, e.g. `Opportunity`.
    public var entity: String
    /// The record's id in this system, as its events carry it.
    public var externalID: String
    /// The event the host asks about, e.g. `opportunity.won`; empty: the record only.
    public var eventType: String
}

/// An inbound webhook.
public struct WebhookRequest: Sendable {
    public var method: String
    /// Path and query.
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first header of that name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
