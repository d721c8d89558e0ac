import SwitchboardCore
import SwitchboardHost
import Synchronization

/// The runner's stand-in for a connector's remote API: host egress answers as
/// the current scenario says, so the runner can see how the plugin classifies
/// a 401, a 503, an unreachable host or a host outside the allowlist.
final class ScriptedEgress: EgressClient, @unchecked Sendable {
    enum Scenario: String, Sendable {
        case ok = "HTTP 200"
        case unauthorized = "HTTP 401"
        case unavailable = "HTTP 503"
        case unreachable = "connection refused (egress RETRY)"
        case notAllowed = "host not in the allowlist (egress CONFIG)"
    }

    private let state = Mutex<(scenario: Scenario, requests: Int)>((.ok, 0))

    var scenario: Scenario {
        get { state.withLock { $0.scenario } }
        set { state.withLock { $0.scenario = newValue } }
    }

    var requests: Int { state.withLock { $0.requests } }

    func send(_ request: EgressRequest) -> EgressResult {
        let scenario = state.withLock { s -> Scenario in
            s.requests += 1
            return s.scenario
        }
        switch scenario {
        case .ok: return .response(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        case .unauthorized: return .response(status: 401, headers: [], body: Array("{\"error\":\"invalid token\"}".utf8))
        case .unavailable: return .response(status: 503, headers: [], body: [])
        case .unreachable: return .failed(.retry, Diagnostic("connection refused (conformance scenario)"))
        case .notAllowed: return .failed(.config, Diagnostic("host is not in the egress allowlist (conformance scenario)", fieldPath: "egress.allow"))
        }
    }
}

/// Connection state kept in memory for the run.
final class MemoryState: InstanceStateStore, @unchecked Sendable {
    private let values = Mutex<[String: [UInt8]]>([:])
    func value(forKey key: String) throws -> [UInt8]? { values.withLock { $0[key] } }
    func setValue(_ value: [UInt8], forKey key: String) throws { values.withLock { $0[key] = value } }
}
