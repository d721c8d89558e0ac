import SwitchboardABI

/// The outcome of a plugin operation, as the host sees it (`sb_status`).
public enum PluginStatus: Int32, Sendable {
    case ok = 0
    /// Transient: the host retries with backoff.
    case retry = 1
    /// Permanent for this input: the item goes to the exception queue.
    case fatal = 2
    /// The connection's configuration is wrong.
    case config = 3
    /// Credentials were rejected: the host pauses the connection.
    case auth = 4
    /// The host asked the call to stop.
    case cancelled = 5
}

/// One problem found by a plugin, reported to the host as an `sb_diag`.
public struct PluginDiagnostic: Sendable, Equatable {
    public enum Severity: Int32, Sendable { case error = 1, warning = 2, info = 3 }
    public var severity: Severity
    public var summary: String
    public var detail: String
    /// The input field at fault, e.g. `auth.client_id` or `lines[2].amount`.
    public var fieldPath: String

    public init(_ summary: String, detail: String = "", fieldPath: String = "", severity: Severity = .error) {
        self.severity = severity
        self.summary = summary
        self.detail = detail
        self.fieldPath = fieldPath
    }
}

/// Thrown by plugin code to end an operation with a status and a diagnostic.
public struct PluginError: Error, Sendable {
    public var status: PluginStatus
    public var diagnostic: PluginDiagnostic

    public init(_ status: PluginStatus, _ summary: String, detail: String = "", fieldPath: String = "") {
        self.status = status
        self.diagnostic = PluginDiagnostic(summary, detail: detail, fieldPath: fieldPath)
    }

    public static func retry(_ summary: String, detail: String = "") -> PluginError { .init(.retry, summary, detail: detail) }
    public static func fatal(_ summary: String, detail: String = "", fieldPath: String = "") -> PluginError {
        .init(.fatal, summary, detail: detail, fieldPath: fieldPath)
    }
    public static func config(_ summary: String, fieldPath: String, detail: String = "") -> PluginError {
        .init(.config, summary, detail: detail, fieldPath: fieldPath)
    }
    public static func auth(_ summary: String, detail: String = "") -> PluginError { .init(.auth, summary, detail: detail) }
    public static let cancelled = PluginError(.cancelled, "cancelled by the host")
}

/// The result of a plugin's config check as a value, or its first problem thrown
/// as `.config` with its field path: what `init(config:host:)` does with a config
/// `validate` would have refused. `checked` is (parsed config or nil, problems).
public func configOrThrow<Config>(_ checked: (Config?, [PluginDiagnostic])) throws -> Config {
    guard let config = checked.0 else {
        let first = checked.1.first
        throw PluginError.config(first?.summary ?? "invalid config", fieldPath: first?.fieldPath ?? "")
    }
    return config
}
