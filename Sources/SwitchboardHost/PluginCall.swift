import SwitchboardCore

/// The outcome of one plugin operation: its status and every diagnostic it reported.
public struct CallOutcome: Sendable, Equatable {
    public var status: OperationStatus
    public var diagnostics: [Diagnostic]

    public init(status: OperationStatus, diagnostics: [Diagnostic] = []) {
        self.status = status
        self.diagnostics = diagnostics
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

    public var description: String { "plugin \(pluginID): \(operation) failed: \(outcome.summary)" }
}
