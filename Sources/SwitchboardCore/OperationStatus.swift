/// The outcome of a plugin operation, as the runtime classifies it.
/// Mirrors `sb_status`; any code the host does not know counts as `.fatal`.
public enum OperationStatus: Int32, Sendable, CustomStringConvertible, Codable {
    case ok = 0
    /// Transient: retry with backoff.
    case retry = 1
    /// Permanent for this input: exception queue.
    case fatal = 2
    /// The connection's configuration is wrong.
    case config = 3
    /// Credentials rejected: park the item and pause the connection.
    case auth = 4
    /// Stopped on the host's request.
    case cancelled = 5

    /// Classifies a raw status from a plugin: unknown values are FATAL (never OK).
    public init(raw: Int32) {
        self = OperationStatus(rawValue: raw) ?? .fatal
    }

    public var description: String {
        switch self {
        case .ok: "OK"
        case .retry: "RETRY"
        case .fatal: "FATAL"
        case .config: "CONFIG"
        case .auth: "AUTH"
        case .cancelled: "CANCELLED"
        }
    }
}
