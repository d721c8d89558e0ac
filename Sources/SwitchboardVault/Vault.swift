@preconcurrency import Crypto
import Foundation
import SwitchboardCore
import SwitchboardStore

/// The credential vault: secrets encrypted at rest with AES-256-GCM under
/// per-tenant data keys, which are wrapped (AES-256-GCM) by the master key.
/// A secret is sealed with its tenant/connection/name as authenticated data,
/// so a sealed value moved to another connection's row does not decrypt.
/// Rotation rewraps the data keys only; a running host keeps its unwrapped
/// data keys in memory and reloads the master key when it meets a new one.
public final class Vault: @unchecked Sendable {
    let store: any VaultStore
    private let lock = Lock()
    private var master: MasterKey
    private let reloadMasterKey: (@Sendable () throws -> MasterKey)?
    private var dataKeys: [String: SymmetricKey] = [:]

    /// `reload` fetches the current master key again (e.g. from its file) after a rotation by another process.
    public init(store: any VaultStore, masterKey: MasterKey, reload: (@Sendable () throws -> MasterKey)? = nil) {
        self.store = store
        master = masterKey
        reloadMasterKey = reload
    }

    /// The id of the master key in use.
    public var masterKeyID: String { lock.withLock { master.id } }

    /// Checks the master key against the vault's data keys (a wrong key fails here, clearly, not later as garbage).
    public func verify() throws {
        for row in try store.vaultDataKeys() { _ = try dataKey(row) }
    }

    // MARK: secrets

    /// What a replaced secret is kept as during its overlap window: `NAME.previous`.
    public static let previousSuffix = ".previous"

    /// Stores `value` as the secret `name`. With `keepPreviousFor`, the value it replaces stays readable as
    /// `NAME.previous` for that many milliseconds (a rotation's overlap window: both are accepted meanwhile).
    public func set(tenant: String, connection: String, name: String, value: [UInt8], actor: String, keepPreviousFor: Millis? = nil) throws {
        Redactor.register(value)
        if let keepPreviousFor, let previous = try self.value(tenant: tenant, connection: connection, name: name) {
            try seal(tenant: tenant, connection: connection, name: name + Self.previousSuffix, value: previous, actor: actor,
                     expiresAt: Clock.nowMillis() + keepPreviousFor)
        }
        try seal(tenant: tenant, connection: connection, name: name, value: value, actor: actor, expiresAt: nil)
    }

    private func seal(tenant: String, connection: String, name: String, value: [UInt8], actor: String, expiresAt: Millis?) throws {
        let (keyID, key) = try tenantKey(tenant)
        let sealed = try AES.GCM.seal(value, using: key, authenticating: Self.context(tenant, connection, name)).combined!
        try store.vaultPut(VaultSecretRow(tenant: tenant, connection: connection, name: name, sealed: Array(sealed), keyID: keyID,
                                          updatedAt: Clock.nowMillis(), expiresAt: expiresAt), actor: actor, now: Clock.nowMillis())
    }

    /// The value of one connection's secret, or nil if it is not in the vault (or its overlap window is over).
    public func value(tenant: String, connection: String, name: String) throws -> [UInt8]? {
        guard let row = try store.vaultSecret(tenant: tenant, connection: connection, name: name) else { return nil }
        if let expiresAt = row.expiresAt, expiresAt <= Clock.nowMillis() { return nil }
        let key: SymmetricKey
        if let cached = lock.withLock({ dataKeys[row.keyID] }) {
            key = cached  // the common case: no key-table read per lookup (egress resolves credentials per request)
        } else {
            guard let keyRow = try store.vaultDataKeys().first(where: { $0.id == row.keyID }) else {
                throw VaultError.corrupted("secret \(tenant)/\(connection)/\(name) names a missing data key")
            }
            key = try dataKey(keyRow)
        }
        do {
            let box = try AES.GCM.SealedBox(combined: row.sealed)
            let value = Array(try AES.GCM.open(box, using: key, authenticating: Self.context(tenant, connection, name)))
            Redactor.register(value)
            return value
        } catch {
            throw VaultError.corrupted("secret \(tenant)/\(connection)/\(name)")
        }
    }

    public func list(tenant: String? = nil) throws -> [VaultEntryInfo] { try store.vaultList(tenant: tenant) }

    public func delete(tenant: String, connection: String, name: String, actor: String) throws -> Bool {
        try store.vaultDelete(tenant: tenant, connection: connection, name: name, actor: actor, now: Clock.nowMillis())
    }

    // MARK: rotation

    public struct Rotation: Sendable {
        public var dataKeys: Int
        public var secrets: Int
        public var milliseconds: Double
        public var oldKeyID: String
        public var newKeyID: String
    }

    /// Rewraps every data key under `newKey` in one transaction. Secrets are
    /// not touched (their data keys do not change); afterwards the old master key can be retired.
    public func rotate(to newKey: MasterKey, actor: String) throws -> Rotation {
        let started = Date()
        let rows = try store.vaultDataKeys()
        var rewrapped: [VaultDataKeyRow] = []
        for row in rows {
            let key = try dataKey(row)
            let wrapped = try key.withUnsafeBytes { raw in
                try AES.GCM.seal(Array(raw), using: newKey.key, authenticating: Array(row.id.utf8)).combined!
            }
            rewrapped.append(VaultDataKeyRow(id: row.id, tenant: row.tenant, wrapped: Array(wrapped), masterKeyID: newKey.id))
        }
        let old = masterKeyID
        try store.vaultRewrap(rewrapped, actor: actor, detail: "master key \(old) -> \(newKey.id), \(rows.count) data key(s)",
                              now: Clock.nowMillis())
        lock.withLock { master = newKey }
        return Rotation(dataKeys: rows.count, secrets: try store.vaultList(tenant: nil).count,
                        milliseconds: Date().timeIntervalSince(started) * 1000, oldKeyID: old, newKeyID: newKey.id)
    }

    // MARK: keys

    static func context(_ tenant: String, _ connection: String, _ name: String) -> [UInt8] {
        Array("\(tenant)\u{0}\(connection)\u{0}\(name)".utf8)
    }

    /// The tenant's data key, created on first use.
    private func tenantKey(_ tenant: String) throws -> (String, SymmetricKey) {
        if let row = try store.vaultDataKeys().first(where: { $0.tenant == tenant }) { return (row.id, try dataKey(row)) }
        let id = "dk-\(tenant)-\(UUID().uuidString.prefix(8).lowercased())"
        let key = SymmetricKey(size: .bits256)
        let current = lock.withLock { master }
        let wrapped = try key.withUnsafeBytes { raw in
            try AES.GCM.seal(Array(raw), using: current.key, authenticating: Array(id.utf8)).combined!
        }
        try store.vaultInsertDataKey(VaultDataKeyRow(id: id, tenant: tenant, wrapped: Array(wrapped), masterKeyID: current.id),
                                     now: Clock.nowMillis())
        lock.withLock { dataKeys[id] = key }
        return (id, key)
    }

    /// Unwraps a data key (cached). A key wrapped under another master key
    /// triggers one reload of the master key (a rotation done elsewhere), then a clear error.
    private func dataKey(_ row: VaultDataKeyRow) throws -> SymmetricKey {
        if let cached = lock.withLock({ dataKeys[row.id] }) { return cached }
        var current = lock.withLock { master }
        if row.masterKeyID != current.id, let reload = reloadMasterKey, let fresh = try? reload(), fresh.id == row.masterKeyID {
            lock.withLock { master = fresh }
            current = fresh
        }
        guard row.masterKeyID == current.id else { throw VaultError.wrongMasterKey(given: current.id, expected: row.masterKeyID) }
        do {
            let raw = try AES.GCM.open(try AES.GCM.SealedBox(combined: row.wrapped), using: current.key, authenticating: Array(row.id.utf8))
            let key = SymmetricKey(data: raw)
            lock.withLock { dataKeys[row.id] = key }
            return key
        } catch {
            throw VaultError.corrupted("data key \(row.id)")
        }
    }
}

/// One connection's view of the vault for its plugin: only its own names, by reference.
public struct VaultSecrets: Sendable {
    public let vault: Vault
    public let tenant: String
    public let connection: String

    public init(vault: Vault, tenant: String, connection: String) {
        self.vault = vault
        self.tenant = tenant
        self.connection = connection
    }

    public func value(named name: String) throws -> [UInt8]? { try vault.value(tenant: tenant, connection: connection, name: name) }
}
