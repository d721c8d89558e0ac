import SwitchboardCore

/// A data key as stored: wrapped (encrypted) by the master key whose id it names.
public struct VaultDataKeyRow: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var wrapped: [UInt8]
    public var masterKeyID: String

    public init(id: String, tenant: String, wrapped: [UInt8], masterKeyID: String) {
        self.id = id
        self.tenant = tenant
        self.wrapped = wrapped
        self.masterKeyID = masterKeyID
    }
}

/// A secret as stored: sealed with a data key. Never holds the value in clear.
public struct VaultSecretRow: Sendable, Equatable {
    public var tenant: String
    public var connection: String
    public var name: String
    public var sealed: [UInt8]
    public var keyID: String
    public var updatedAt: Millis
    /// After this the secret is no longer given out (a replaced secret kept for an overlap window); nil: never.
    public var expiresAt: Millis?

    public init(tenant: String, connection: String, name: String, sealed: [UInt8], keyID: String, updatedAt: Millis, expiresAt: Millis? = nil) {
        self.tenant = tenant
        self.connection = connection
        self.name = name
        self.sealed = sealed
        self.keyID = keyID
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
    }
}

/// What `vault list` shows: names and metadata, never values.
public struct VaultEntryInfo: Sendable, Equatable {
    public var tenant: String
    public var connection: String
    public var name: String
    public var keyID: String
    public var createdAt: Millis
    public var updatedAt: Millis
    public var expiresAt: Millis?

    public init(tenant: String, connection: String, name: String, keyID: String, createdAt: Millis, updatedAt: Millis, expiresAt: Millis? = nil) {
        self.tenant = tenant
        self.connection = connection
        self.name = name
        self.keyID = keyID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
    }
}

/// Persistence of the vault: ciphertext only. Sources/SwitchboardVault does the cryptography.
public protocol VaultStore: AnyObject, Sendable {
    func vaultDataKeys() throws -> [VaultDataKeyRow]
    func vaultInsertDataKey(_ key: VaultDataKeyRow, now: Millis) throws
    /// Replaces every data key's wrapping in one transaction (a rotation), audited.
    func vaultRewrap(_ keys: [VaultDataKeyRow], actor: String, detail: String, now: Millis) throws
    func vaultPut(_ secret: VaultSecretRow, actor: String, now: Millis) throws
    func vaultSecret(tenant: String, connection: String, name: String) throws -> VaultSecretRow?
    func vaultList(tenant: String?) throws -> [VaultEntryInfo]
    /// True if it existed.
    func vaultDelete(tenant: String, connection: String, name: String, actor: String, now: Millis) throws -> Bool
}
