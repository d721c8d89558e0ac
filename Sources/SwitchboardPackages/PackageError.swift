/// Why a package was refused, or a package source is wrong. `kind` is the first word an operator reads
/// (docs/PACKAGES.md, "Verification, in order"); the message says what to do.
public struct PackageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case unsigned, tampered, untrusted, revoked, badSignature = "bad signature", outOfScope = "out of scope", mismatch
        case malformed, incompatible, invalidSource = "invalid", io
        /// An index older than one this host has seen, or one that has expired (docs/PACKAGES.md).
        case replayed, expired
        /// Install: a dependency no source has, a cycle, a parameter missing or wrong, a configuration that does not validate.
        case unresolved, parameters, invalidConfiguration = "invalid configuration", conflict
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
