/// Keeps secret values out of everything Switchboard writes: logs, errors,
/// exception items, audit lines. Every secret value the host resolves is
/// registered here; `redact` replaces any occurrence (and the credential part
/// of Authorization-style headers) with `[REDACTED]`.
public enum Redactor {
    private static let lock = Lock()
    nonisolated(unsafe) private static var values: Set<String> = []
    static let marker = "[REDACTED]"

    /// Registers a secret value (values shorter than 4 bytes are too ambiguous to scrub safely and are skipped).
    public static func register(_ value: String) {
        guard value.utf8.count >= 4 else { return }
        lock.withLock { _ = values.insert(value) }
    }

    public static func register(_ bytes: [UInt8]) { register(String(decoding: bytes, as: UTF8.self)) }

    /// The text with every registered secret and every credential after Bearer/Basic/Token replaced.
    public static func redact(_ text: String) -> String {
        var out = text
        let known = lock.withLock { values }
        for value in known where out.contains(value) { out = out.replacingAll(value, with: marker) }
        for scheme in ["Bearer ", "Basic ", "Token ", "bearer ", "basic "] where out.contains(scheme) {
            out = maskAfter(scheme, in: out)
        }
        return out
    }

    /// Masks the word that follows `prefix` (an Authorization credential).
    static func maskAfter(_ prefix: String, in text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let range = rest.firstRange(of: prefix) {
            result += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            let end = rest.firstIndex { $0 == " " || $0 == "\"" || $0 == "," || $0 == "\n" || $0 == "'" } ?? rest.endIndex
            if rest.startIndex != end && !rest[..<end].hasPrefix(marker) { result += marker } else { result += rest[..<end] }
            rest = rest[end...]
        }
        return result + rest
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
