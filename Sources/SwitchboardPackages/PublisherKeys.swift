import Crypto
import Foundation
import SwitchboardCore

/// A publisher's Ed25519 public key, as `P.pub` and the trust store hold it.
public struct PublisherKey: Sendable {
    public var publisher: String
    public var keyID: String
    /// The raw 32-byte key (kept as bytes: swift-crypto's key type is not Sendable).
    public var rawPublicKey: Data
    /// Always valid: `rawPublicKey` is only ever set from a key.
    public var publicKey: Curve25519.Signing.PublicKey { try! Curve25519.Signing.PublicKey(rawRepresentation: rawPublicKey) }

    /// The first 16 hex digits of the SHA-256 of the raw public key.
    public static func keyID(_ raw: Data) -> String { String(PackageManifest.hex(SHA256.hash(data: raw)).prefix(16)) }

    public var json: JSON {
        .object([("algorithm", .string("ed25519")), ("key_id", .string(keyID)),
                 ("public_key", .string(publicKey.rawRepresentation.base64EncodedString())), ("publisher", .string(publisher))])
    }

    public init(publisher: String, publicKey: Curve25519.Signing.PublicKey) {
        self.publisher = publisher
        rawPublicKey = publicKey.rawRepresentation
        keyID = Self.keyID(rawPublicKey)
    }

    /// Reads a `.pub` file (or a trust store entry).
    public init(json: JSON, source: String) throws(PackageError) {
        guard json["algorithm"]?.stringValue == "ed25519", let publisher = json["publisher"]?.stringValue,
              let encoded = json["public_key"]?.stringValue, let raw = Data(base64Encoded: encoded),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw PackageError(.invalidSource, "\(source) is not an Ed25519 public key file (algorithm, publisher, public_key)")
        }
        self.init(publisher: publisher, publicKey: key)
    }
}

/// Generating keys and signing packages (docs/PACKAGES.md, "Keys and signatures").
public enum PackageSigning {
    /// What a signature covers: the archive's digest bound to its id and version.
    static func message(id: String, version: String, sha256: String) -> Data {
        Data("switchboard-package-v1\n\(id)\n\(version)\n\(sha256)\n".utf8)
    }

    /// Writes `DIR/P.key` (0600) and `DIR/P.pub`; returns the key.
    public static func generate(publisher: String, outputDirectory: String) throws -> PublisherKey {
        guard PackageSource.validID(publisher + ".x") else { throw PackageError(.invalidSource, "publisher \"\(publisher)\" must be lowercase [a-z0-9-]") }
        let privateKey = Curve25519.Signing.PrivateKey()
        let key = PublisherKey(publisher: publisher, publicKey: privateKey.publicKey)
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let privatePath = outputDirectory + "/\(publisher).key"
        guard !FileManager.default.fileExists(atPath: privatePath) else {
            throw PackageError(.io, "\(privatePath) exists: keys are never overwritten (move it away first)")
        }
        let secret = JSON.object([("algorithm", .string("ed25519")), ("key_id", .string(key.keyID)),
                                  ("private_key", .string(privateKey.rawRepresentation.base64EncodedString())), ("publisher", .string(publisher))])
        guard FileManager.default.createFile(atPath: privatePath, contents: Data(secret.bytes), attributes: [.posixPermissions: 0o600]) else {
            throw PackageError(.io, "\(privatePath) cannot be written")
        }
        try Data(key.json.bytes).write(to: URL(fileURLWithPath: outputDirectory + "/\(publisher).pub"))
        return key
    }

    /// Reads a private key file made by `generate`: the key and its publisher.
    static func privateKey(file: String) throws(PackageError) -> (Curve25519.Signing.PrivateKey, String) {
        guard let keyBytes = FileManager.default.contents(atPath: file), let json = try? JSON.parse(Array(keyBytes)),
              let encoded = json["private_key"]?.stringValue, let raw = Data(base64Encoded: encoded),
              let privateKey = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw PackageError(.invalidSource, "\(file) is not a private key made by switchboard keys generate")
        }
        return (privateKey, json["publisher"]?.stringValue ?? "")
    }

    /// Reads a `.pub` file.
    public static func publicKey(file: String) throws(PackageError) -> PublisherKey {
        guard let data = FileManager.default.contents(atPath: file), let json = try? JSON.parse(Array(data)) else {
            throw PackageError(.invalidSource, "\(file) cannot be read as a public key file")
        }
        return try PublisherKey(json: json, source: file)
    }

    /// Signs `package` with the private key file; writes `package.sig` and returns its path.
    public static func sign(package path: String, keyFile: String) throws -> String {
        let (privateKey, publisher) = try privateKey(file: keyFile)
        guard let archive = FileManager.default.contents(atPath: path) else { throw PackageError(.io, "\(path) cannot be read") }
        let contents = try PackageReader.read(path: path)
        let sha = PackageManifest.hex(SHA256.hash(data: archive))
        let key = PublisherKey(publisher: publisher, publicKey: privateKey.publicKey)
        let signature = try privateKey.signature(for: message(id: contents.manifest.id, version: contents.manifest.version, sha256: sha))
        let file = JSON.object([
            ("algorithm", .string("ed25519")), ("id", .string(contents.manifest.id)), ("key_id", .string(key.keyID)),
            ("sha256", .string(sha)), ("signature", .string(signature.base64EncodedString())), ("version", .string(contents.manifest.version)),
        ])
        try Data(file.bytes).write(to: URL(fileURLWithPath: path + ".sig"))
        return path + ".sig"
    }
}
