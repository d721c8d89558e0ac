import SwitchboardCore

/// What the host knows of a plugin file once it loaded, wherever it loaded
/// (in this process, or in a sandbox worker that reported it).
public struct PluginInfo: Sendable {
    public var path: String
    public var descriptor: PluginDescriptor
    /// The `SB_CAP_*` bits of the manifest.
    public var capabilities: UInt64
    /// min(host minor, plugin minor), agreed at init.
    public var negotiatedMinor: Int

    public init(path: String, descriptor: PluginDescriptor, capabilities: UInt64, negotiatedMinor: Int) {
        self.path = path
        self.descriptor = descriptor
        self.capabilities = capabilities
        self.negotiatedMinor = negotiatedMinor
    }

    /// True if the plugin declares the capability.
    public func has(_ capability: PluginCapability) -> Bool { capabilities & capability.bit != 0 }
}

/// One open plugin instance, in-process (`PluginInstance`) or in a sandbox
/// worker: the runtime cannot tell, and neither can the plugin. Deadlines are
/// monotonic times in ns (0 = none).
public protocol PluginHandle: AnyObject, Sendable {
    var info: PluginInfo { get }
    func checkConnection(deadline: Int64, labels: [String: String]) -> CallOutcome
    func discover() -> (CallOutcome, String?)
    func read(stream: String, state: [UInt8], maxRecords: Int, deadline: Int64, labels: [String: String],
              sink: @escaping EmitSink) -> CallOutcome
    func write(entity: String, idempotencyKey: String, externalID: String, record: [UInt8],
               deadline: Int64, labels: [String: String], onResult: ((String) -> Void)?) -> (CallOutcome, String?)
    func handleWebhook(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8],
                       deadline: Int64, sink: @escaping EmitSink) -> CallOutcome
    func onEvent(type: String, event: UnsafeRawBufferPointer, deadline: Int64, labels: [String: String],
                 sink: EmitSink?) -> CallOutcome
    /// Reads one record as the source holds it now (ABI 1.1 `fetch`); `sink` receives its event or record.
    func fetch(entity: String, externalID: String, eventType: String, deadline: Int64, labels: [String: String],
               sink: @escaping EmitSink) -> CallOutcome
    /// Asks an operation in progress to stop (thread-safe).
    func cancel()
    /// Closes the instance (idempotent).
    func close()
    /// Health when a supervisor watches the plugin (a sandbox worker); nil in-process.
    var health: PluginHealth? { get }
    /// One line saying what holds the plugin in (namespaces, filesystem, seccomp, limits); nil in-process.
    var containment: String? { get }
}

extension PluginHandle {
    public var pluginID: String { info.descriptor.id }

    public var health: PluginHealth? { nil }
    public var containment: String? { nil }

    /// check_connection with no deadline and no labels.
    public func checkConnection() -> CallOutcome { checkConnection(deadline: 0, labels: [:]) }
}
