import SwitchboardABI

/// The capability bits of ABI v1, by name.
public enum PluginCapability: String, CaseIterable, Sendable {
    case check = "check_connection"
    case discover
    case read
    case write
    case webhook = "handle_webhook"
    case onEvent = "on_event"
    case hostEgress = "host_egress"
    case rawSecrets = "raw_secrets"
    /// ABI 1.1
    case fetch

    public var bit: UInt64 {
        switch self {
        case .check: SB_CAP_CHECK
        case .discover: SB_CAP_DISCOVER
        case .read: SB_CAP_READ
        case .write: SB_CAP_WRITE
        case .webhook: SB_CAP_WEBHOOK
        case .onEvent: SB_CAP_ON_EVENT
        case .hostEgress: SB_CAP_HOST_EGRESS
        case .rawSecrets: SB_CAP_RAW_SECRETS
        case .fetch: SB_CAP_FETCH
        }
    }

    static func names(_ bits: UInt64) -> [String] { allCases.filter { bits & $0.bit != 0 }.map(\.rawValue) }
}
