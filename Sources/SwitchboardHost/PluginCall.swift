import SwitchboardCore

/// The outcome of one plugin operation: its status and every diagnostic it reported.
public struct CallOutcome: Sendable, Equatable {
    public var status: OperationStatus
    public var diagnostics: [Diagnostic]
    /// How long the plugin asked the host to wait before retrying (SB_EMIT_RETRY_AFTER), in ms.
    public var retryAfterMillis: Int64?

    public init(status: OperationStatus, diagnostics: [Diagnostic] = [], retryAfterMillis: Int64? = nil) {
        self.status = status
        self.diagnostics = diagnostics
        self.retryAfterMillis = retryAfterMillis
    }

    public var isOK: Bool { status == .ok }

    /// One line for logs and errors: status plus the diagnostics.
    public var summary: String {
        diagnostics.isEmpty ? status.description : "\(status): " + diagnostics.map(\.description).joined(separator: "; ")
    }
}

/// A plugin operation failed; carries the plugin's own diagnostics.
public struct PluginCallError: Error, CustomStringConvertible, Sendable {
    public var pluginID: String
    public var operation: String
    public var outcome: CallOutcome

    public init(pluginID: String, operation: String, outcome: CallOutcome) {
        self.pluginID = pluginID
        self.operation = operation
        self.outcome = outcome
    }

    public var description: String { "plugin \(pluginID): \(operation) failed: \(outcome.summary)" }
}
