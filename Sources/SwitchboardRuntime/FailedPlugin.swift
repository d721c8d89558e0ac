import SwitchboardCore
import SwitchboardHost

/// The stand-in for a connection whose plugin failed to start (it timed out, crashed or exited in
/// a constructor or in init): the host runs without it instead of refusing to start. It declares no
/// capability, so nothing polls it; work sent to it (writes, webhooks) is answered RETRY with the
/// reason, so it waits in the retry queue and then the exception queue, never lost.
final class FailedPlugin: PluginHandle, @unchecked Sendable {
    let info: PluginInfo
    /// Why the plugin did not start, naming the file.
    let reason: String

    init(id: String, refusal: PluginLoadError) {
        info = PluginInfo(path: refusal.path,
                          descriptor: PluginDescriptor(id: id, version: "unknown", kind: .connector, capabilities: [], name: nil,
                                                       description: nil, vendor: nil, abiMajor: 0, abiMinor: 0),
                          capabilities: 0, negotiatedMinor: 0)
        reason = refusal.description
    }

    private var refused: CallOutcome {
        CallOutcome(status: .retry, diagnostics: [Diagnostic("plugin \(info.descriptor.id) failed to start", detail: reason)])
    }

    func checkConnection(deadline: Int64, labels: [String: String]) -> CallOutcome { refused }
    func discover() -> (CallOutcome, String?) { (refused, nil) }
    func read(stream: String, state: [UInt8], maxRecords: Int, deadline: Int64, labels: [String: String],
              sink: @escaping EmitSink) -> CallOutcome { refused }
    func write(entity: String, idempotencyKey: String, externalID: String, record: [UInt8],
               deadline: Int64, labels: [String: String], onResult: ((String) -> Void)?) -> (CallOutcome, String?) { (refused, nil) }
    func handleWebhook(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8],
                       deadline: Int64, sink: @escaping EmitSink) -> CallOutcome { refused }
    func onEvent(type: String, event: UnsafeRawBufferPointer, deadline: Int64, labels: [String: String],
                 sink: EmitSink?) -> CallOutcome { refused }
    func fetch(entity: String, externalID: String, eventType: String, deadline: Int64, labels: [String: String],
               sink: @escaping EmitSink) -> CallOutcome { refused }
    func cancel() {}
    func close() {}
}

extension PluginCatalog {
    /// The refusal of the file that provides `id`, when that file failed to start: by the id its
    /// manifest gave before init failed, else by a file name that names the id (`id.so`,
    /// `libid.so`, `libsbplugin-id.so`), the only clue left when a constructor killed the worker.
    func refusal(forID id: String) -> PluginLoadError? {
        if let byID = refused.first(where: { $0.pluginID == id }) { return byID }
        return refused.first { refusal in
            let name = refusal.path.split(separator: "/").last.map(String.init) ?? refusal.path
            return ["\(id).so", "lib\(id).so", "libsbplugin-\(id).so"].contains(name)
        }
    }
}
