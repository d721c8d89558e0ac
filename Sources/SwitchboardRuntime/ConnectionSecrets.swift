import Foundation
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore
import SwitchboardVault

/// Secrets of one connection, resolved from its references: `vault:NAME`
/// (the vault entry NAME of this tenant and connection) or `env:VARIABLE`.
/// A connection sees only the names its own configuration maps.
struct ConnectionSecrets: SecretResolver {
    let references: [String: String]
    let vault: VaultSecrets?

    /// The secret a plugin asks for by `name`: one the connection's `secrets:` maps, or `NAME.previous` of one it maps
    /// (the value a `vault set --keep-previous` replaced, during its overlap window). `NAME.previous` is optional by
    /// nature: when there is none (none kept, window over, an env: secret) it is empty, not an error.
    func secret(named name: String) throws -> [UInt8]? {
        if let reference = references[name] { return try resolve(reference: reference) }
        guard name.hasSuffix(Vault.previousSuffix), let current = references[String(name.dropLast(Vault.previousSuffix.count))] else {
            return nil
        }
        guard current.hasPrefix("vault:") else { return [] }
        return try resolve(reference: current + Vault.previousSuffix) ?? []
    }

    /// A reference's value within this connection's scope (egress credentials use this; plugins never do).
    func resolve(reference: String) throws -> [UInt8]? {
        var value: [UInt8]?
        if reference.hasPrefix("vault:") { value = try vault?.value(named: String(reference.dropFirst(6))) }
        if reference.hasPrefix("env:") { value = ProcessInfo.processInfo.environment[String(reference.dropFirst(4))].map { Array($0.utf8) } }
        // Whatever the host resolves, it will scrub from everything it writes.
        if let value { Redactor.register(value) }
        return value
    }
}
