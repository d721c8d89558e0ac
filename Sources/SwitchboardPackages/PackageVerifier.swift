import Crypto
import Foundation
import SwitchboardABI
import SwitchboardCore

/// A package that passed verification, and how (docs/PACKAGES.md, "Verification, in order").
public struct VerifiedPackage: Sendable {
    public var contents: PackageReader.Contents
    public var sha256: String
    /// The key that signed it; nil when accepted unsigned under the development switch.
    public var signedBy: PublisherKey?
    public var manifest: PackageManifest { contents.manifest }
}

public enum PackageVerifier {
    /// This machine's platform name in package manifests.
    public static var currentPlatform: String {
        #if arch(x86_64)
        "linux-x86_64"
        #elseif arch(arm64)
        "linux-aarch64"
        #else
        "unsupported"
        #endif
    }

    /// Verifies `path` (and its detached `path.sig`) against `trust`, then reads it safely and checks that this host
    /// can run it. Refuses at the first failure, in the documented order.
    public static func verify(path: String, trust: TrustStore, allowUnsigned: Bool = false, platform: String = currentPlatform,
                              host: SemanticVersion = HostVersion.current) throws(PackageError) -> VerifiedPackage {
        // Sizes before reading: a hostile download must not be read whole into memory first.
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size else { throw PackageError(.io, "\(path) cannot be read") }
        guard size <= PackageReader.maxTotalBytes else { throw PackageError(.malformed, "\(path) is larger than \(PackageReader.maxTotalBytes >> 20) MiB") }
        let sigSize = (try? FileManager.default.attributesOfItem(atPath: path + ".sig")[.size] as? Int) ?? nil
        guard (sigSize ?? 0) <= 64 * 1024 else { throw PackageError(.badSignature, "\(path).sig is larger than 64 KiB: not a signature") }
        guard let archive = FileManager.default.contents(atPath: path) else { throw PackageError(.io, "\(path) cannot be read") }
        let sha = PackageManifest.hex(SHA256.hash(data: archive))
        var signer: PublisherKey?
        var signed: (id: String, version: String)?
        if let sigData = FileManager.default.contents(atPath: path + ".sig") {
            guard let sig = try? JSON.parse(Array(sigData)), sig["algorithm"]?.stringValue == "ed25519",
                  let keyID = sig["key_id"]?.stringValue, let covered = sig["sha256"]?.stringValue, let id = sig["id"]?.stringValue,
                  let version = sig["version"]?.stringValue, let encoded = sig["signature"]?.stringValue,
                  let signature = Data(base64Encoded: encoded) else {
                throw PackageError(.badSignature, "\(path).sig is not a signature made by switchboard package sign")
            }
            guard covered == sha else {
                throw PackageError(.tampered, "the archive's SHA-256 is \(sha), but its signature covers \(covered): the file changed after it was signed; fetch it again from its publisher")
            }
            guard let entry = trust.entry(keyID: keyID) else {
                throw PackageError(.untrusted, "signed by key \(keyID), which \(trust.path) does not hold; if you trust its publisher, run switchboard trust add THEIR.pub")
            }
            if let reason = entry.revokedReason {
                throw PackageError(.revoked, "signed by key \(keyID) of \(entry.key.publisher), revoked on this host (\(reason)); ask the publisher for a build signed with their new key")
            }
            guard entry.key.publicKey.isValidSignature(signature, for: PackageSigning.message(id: id, version: version, sha256: sha)) else {
                throw PackageError(.badSignature, "the signature does not verify with key \(keyID) of \(entry.key.publisher): it was made by another key or edited")
            }
            guard entry.prefixes.contains(where: { id.hasPrefix($0) }) else {
                throw PackageError(.outOfScope, "key \(keyID) of \(entry.key.publisher) may sign only \(entry.prefixes.map { $0 + "*" }.joined(separator: ", ")), not \(id)")
            }
            signer = entry.key
            signed = (id, version)
        } else if !allowUnsigned {
            throw PackageError(.unsigned, "\(path) has no signature (\(path).sig); sign it with switchboard package sign, or, for development only, pass --allow-unsigned")
        }
        let contents = try PackageReader.read(path: path)
        let manifest = contents.manifest
        if let signed, signed.id != manifest.id || signed.version != manifest.version {
            throw PackageError(.mismatch, "the signature is for \(signed.id) \(signed.version), the archive holds \(manifest.id) \(manifest.version)")
        }
        guard manifest.abiMajor == Int(SB_ABI_MAJOR) else {
            throw PackageError(.incompatible, "\(manifest.id) \(manifest.version) needs plugin ABI \(manifest.abiMajor); this host speaks ABI \(SB_ABI_MAJOR)")
        }
        if manifest.kind != "accelerator" || !manifest.plugins.isEmpty, manifest.plugins[platform]?.isEmpty ?? true {
            throw PackageError(.incompatible, "\(manifest.id) \(manifest.version) has no plugin for \(platform) (it has \(manifest.plugins.keys.sorted().joined(separator: ", ")))")
        }
        guard let range = VersionRange(manifest.host), range.contains(host) else {
            throw PackageError(.incompatible, "\(manifest.id) \(manifest.version) runs on host versions \(manifest.host); this host is \(host)")
        }
        return VerifiedPackage(contents: contents, sha256: sha, signedBy: signer)
    }
}
