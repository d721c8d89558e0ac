import SwitchboardCore

/// The host's own version, which a package's `host:` range must contain.
public enum HostVersion {
    public static let current = SemanticVersion("1.0.0")!
}

/// A semver range: comparators joined by spaces, all of which must hold (`>=1.2.0 <2.0.0`, `=1.0.0`).
public struct VersionRange: Sendable, CustomStringConvertible {
    enum Op: String { case ge = ">=", le = "<=", gt = ">", lt = "<", eq = "=" }
    let comparators: [(Op, SemanticVersion)]
    public let description: String

    public init?(_ text: String) {
        var parsed: [(Op, SemanticVersion)] = []
        for part in text.split(separator: " ") {
            guard let op = [Op.ge, .le, .gt, .lt, .eq].first(where: { part.hasPrefix($0.rawValue) }),
                  let version = SemanticVersion(String(part.dropFirst(op.rawValue.count))) else { return nil }
            parsed.append((op, version))
        }
        guard !parsed.isEmpty else { return nil }
        comparators = parsed
        description = text
    }

    public func contains(_ version: SemanticVersion) -> Bool {
        comparators.allSatisfy { op, bound in
            let c = Self.compare(version, bound)
            switch op {
            case .ge: return c >= 0
            case .le: return c <= 0
            case .gt: return c > 0
            case .lt: return c < 0
            case .eq: return c == 0
            }
        }
    }

    /// Precedence by major, minor, patch; a pre-release sorts before its release (identifiers compared as text).
    public static func compare(_ a: SemanticVersion, _ b: SemanticVersion) -> Int {
        for (x, y) in [(a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)] where x != y { return x < y ? -1 : 1 }
        if a.preRelease == b.preRelease { return 0 }
        if a.preRelease.isEmpty { return 1 }
        if b.preRelease.isEmpty { return -1 }
        return a.preRelease < b.preRelease ? -1 : 1
    }
}
