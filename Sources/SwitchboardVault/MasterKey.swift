@preconcurrency import Crypto
import Foundation

/// The vault's master key: 32 random bytes, from `SWITCHBOARD_MASTER_KEY`
/// (base64 or hex) or from a key file readable by its owner only
/// (`SWITCHBOARD_MASTER_KEY_FILE`). Never from the database.
public struct MasterKey: @unchecked Sendable {
    let key: SymmetricKey
    /// A short fingerprint that names the key without revealing it.
    public let id: String

    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count == 32 else { throw VaultError.badMasterKey("a master key is 32 bytes; this one has \(bytes.count)") }
        key = SymmetricKey(data: bytes)
        id = String(SHA256.hash(data: Array("switchboard-master-key:".utf8) + bytes).map { String(format: "%02x", $0) }.joined().prefix(12))
    }

    /// Parses base64 or 64 hex digits (surrounding whitespace ignored).
    public init(text: String) throws(VaultError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count == 64, trimmed.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = trimmed.startIndex
            while index < trimmed.endIndex {
                let next = trimmed.index(index, offsetBy: 2)
                bytes.append(UInt8(trimmed[index..<next], radix: 16)!)
                index = next
            }
            try self.init(bytes: bytes)
        } else if let data = Data(base64Encoded: trimmed) {
            try self.init(bytes: Array(data))
        } else {
            throw VaultError.badMasterKey("expected base64 of 32 bytes or 64 hex digits")
        }
    }

    /// A fresh random key, base64 (what `switchboard vault keygen` prints).
    public static func generate() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Loads the key from a file that only its owner can read.
    public static func load(file path: String) throws(VaultError) -> MasterKey {
        var info = stat()
        guard stat(path, &info) == 0 else { throw VaultError.badMasterKey("\(path): \(String(cString: strerror(errno)))") }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw VaultError.badMasterKey("\(path) is readable by others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw VaultError.badMasterKey("\(path): cannot read the key file")
        }
        return try MasterKey(text: text)
    }

    /// The key named by the environment: SWITCHBOARD_MASTER_KEY, else SWITCHBOARD_MASTER_KEY_FILE.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(VaultError) -> MasterKey {
        if let text = environment["SWITCHBOARD_MASTER_KEY"] { return try MasterKey(text: text) }
        if let file = environment["SWITCHBOARD_MASTER_KEY_FILE"] { return try load(file: file) }
        throw VaultError.noMasterKey
    }
}

/// Vault failures. Messages name secrets, never their values.
public enum VaultError: Error, CustomStringConvertible, Equatable {
    case noMasterKey
    case badMasterKey(String)
    /// The key in use is not the one the vault's data keys are wrapped with.
    case wrongMasterKey(given: String, expected: String)
    case corrupted(String)

    public var description: String {
        switch self {
        case .noMasterKey:
            return "no vault master key: set SWITCHBOARD_MASTER_KEY (base64 of 32 random bytes) or SWITCHBOARD_MASTER_KEY_FILE (a file only its owner can read); `switchboard vault keygen` makes one"
        case .badMasterKey(let why):
            return "unusable vault master key: \(why)"
        case .wrongMasterKey(let given, let expected):
            return "wrong vault master key: this key has id \(given), the vault's keys are wrapped with key id \(expected) (was the key rotated? use the current one)"
        case .corrupted(let what):
            return "vault data does not decrypt: \(what) (edited or damaged)"
        }
    }
}
