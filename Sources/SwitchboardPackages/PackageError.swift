/// Why a package was refused, or a package source is wrong. `kind` is the first word an operator reads
/// (docs/PACKAGES.md, "Verification, in order"); the message says what to do.
public struct PackageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case unsigned, tampered, untrusted, revoked, badSignature = "bad signature", outOfScope = "out of scope", mismatch
        case malformed, incompatible, invalidSource = "invalid", io
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
