import SwitchboardCore

/// A supervised plugin's health as the runtime, the admin API and metrics see it: failures by kind,
/// restarts, the circuit. Only a plugin that runs in a sandbox worker has one (an in-process plugin
/// that fails takes the host with it; there is nothing to supervise).
public struct PluginHealth: Sendable {
    public enum FailureKind: String, Sendable { case crash, outOfMemory = "out_of_memory", hang, exit, protocolViolation = "protocol", cancelled }

    public var consecutiveFailures = 0
    public var failures: [FailureKind: Int] = [:]
    public var restarts = 0
    public var lastFailure: String?
    public var restartNotBefore: Int64?
    public var circuitOpenUntil: Int64?
    public var printedBytes = 0

    /// Degraded while the circuit is open or the last call failed.
    public var degraded: Bool { consecutiveFailures > 0 }

    public var circuitOpen: Bool { circuitOpenUntil.map { Clock.monotonicNanoseconds() < $0 } ?? false }

    public init() {}

    /// Counts a failure of `kind`; a host cancel is not the plugin's fault and does not degrade it.
    public mutating func failed(_ kind: FailureKind, message: String) {
        if kind != .cancelled { consecutiveFailures += 1 }
        failures[kind, default: 0] += 1
        lastFailure = message
    }

    /// A call returned: the failure streak, the circuit and the restart backoff end.
    public mutating func succeeded() {
        consecutiveFailures = 0
        circuitOpenUntil = nil
        restartNotBefore = nil
    }
}
