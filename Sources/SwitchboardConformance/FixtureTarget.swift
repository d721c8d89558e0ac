import Foundation
import SwitchboardEgress
import SwitchboardHost

/// The fixture's `secrets:` as the plugin's vault.
struct FixtureSecrets: SecretResolver {
    let references: [String: String]
    let resolve: @Sendable (String) -> [UInt8]?
    func secret(named name: String) throws -> [UInt8]? { references[name].flatMap(resolve) }
}

/// What a plugin under test talks to: the fixture's server on loopback (if it serves one) and the
/// real host egress, allowed to reach it (or the test instance in egress.allow), with the fixture's
/// auth injected and its vault values resolved. Used by `plugin test` and `plugins smoke`.
public struct FixtureTarget {
    public var server: FixtureServer?
    public var egress: HTTPEgress
    /// The fixture's `secrets:`, resolved as the host's vault would (nil: the plugin reads none).
    public var secrets: (any SecretResolver)?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func start(_ fixture: Fixture) throws(Failure) -> FixtureTarget {
        var policy = fixture.egress ?? EgressPolicy(allow: [])
        policy.connectionLabel = "fixture/under-test"
        // A plugin that logs in itself (secrets, no host auth) sends its own Authorization, as on a connection.
        if !fixture.secrets.isEmpty, case .none = policy.auth { policy.pluginAuthorization = true }
        var server: FixtureServer?
        if fixture.served {
            let started = FixtureServer(fixture)
            do { try started.start() } catch { throw Failure(description: "the fixture server did not start: \(error)") }
            server = started
            policy.allow.append("127.0.0.1:\(started.port)")
        } else if policy.allow.isEmpty {
            throw Failure(description: "\(fixture.file): the fixture serves nothing (no exchanges or collections) and names no test instance (egress.allow)")
        }
        let resolve = Self.resolver(vault: fixture.vault)
        let egress = HTTPEgress(policy: policy, resolve: resolve)
        let secrets = fixture.secrets.isEmpty ? nil : FixtureSecrets(references: fixture.secrets, resolve: resolve)
        return FixtureTarget(server: server, egress: egress, secrets: secrets)
    }

    /// `vault:NAME` from the fixture's test values, `env:VAR` from the environment.
    static func resolver(vault: [String: String]) -> @Sendable (String) -> [UInt8]? {
        { reference in
            if reference.hasPrefix("vault:") { return vault[String(reference.dropFirst(6))].map { Array($0.utf8) } }
            if reference.hasPrefix("env:") { return ProcessInfo.processInfo.environment[String(reference.dropFirst(4))].map { Array($0.utf8) } }
            return nil
        }
    }
}
