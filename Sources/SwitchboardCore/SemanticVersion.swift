/// A Semantic Versioning 2.0.0 version: `MAJOR.MINOR.PATCH[-pre][+build]`.
public struct SemanticVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    public var preRelease: String
    public var build: String

    /// Parses strictly: no leading zeros, identifiers of `[0-9A-Za-z-]`.
    public init?(_ text: String) {
        var rest = Substring(text)
        var build = ""
        if let plus = rest.firstIndex(of: "+") {
            build = String(rest[rest.index(after: plus)...])
            rest = rest[..<plus]
            guard Self.validIdentifiers(build, numeric: false) else { return nil }
        }
        var pre = ""
        if let dash = rest.firstIndex(of: "-") {
            pre = String(rest[rest.index(after: dash)...])
            rest = rest[..<dash]
            guard Self.validIdentifiers(pre, numeric: true) else { return nil }
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard let n = Self.number(part) else { return nil }
            numbers.append(n)
        }
        (major, minor, patch) = (numbers[0], numbers[1], numbers[2])
        preRelease = pre
        self.build = build
    }

    private static func number(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.allSatisfy(\.isASCIIDigit), s == "0" || s.first != "0", s.count < 10 else { return nil }
        return Int(s)
    }

    private static func validIdentifiers(_ s: String, numeric: Bool) -> Bool {
        let ids = s.split(separator: ".", omittingEmptySubsequences: false)
        return !ids.isEmpty && ids.allSatisfy { id in
            !id.isEmpty && id.allSatisfy { $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" }
                && (!numeric || !id.allSatisfy(\.isASCIIDigit) || id == "0" || id.first != "0")
        }
    }

    public var description: String {
        var text = "\(major).\(minor).\(patch)"
        if !preRelease.isEmpty { text += "-\(preRelease)" }
        if !build.isEmpty { text += "+\(build)" }
        return text
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
