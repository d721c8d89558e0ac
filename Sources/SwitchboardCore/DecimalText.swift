/// Exact addition of decimal strings, for money totals (amounts never pass
/// through Double). Handles a leading minus sign.
public enum DecimalText {
    public static func add(_ a: String, _ b: String) -> String {
        guard let x = parse(a), let y = parse(b) else { return a }
        let scale = max(x.scale, y.scale)
        let sum = x.units * pow10(scale - x.scale) + y.units * pow10(scale - y.scale)
        return format(sum, scale: scale)
    }

    static func parse(_ s: String) -> (units: Int, scale: Int)? {
        guard CanonicalValidator.isDecimal(s) else { return nil }
        let negative = s.hasPrefix("-")
        let body = negative ? String(s.dropFirst()) : s
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        let digits = parts.joined()
        guard digits.count <= 17, let value = Int(digits) else { return nil }
        return (negative ? -value : value, parts.count > 1 ? parts[1].count : 0)
    }

    static func pow10(_ n: Int) -> Int { (0..<n).reduce(1) { r, _ in r * 10 } }

    static func format(_ units: Int, scale: Int) -> String {
        let negative = units < 0
        var digits = String(abs(units))
        guard scale > 0 else { return (negative ? "-" : "") + digits }
        while digits.count <= scale { digits = "0" + digits }
        let cut = digits.index(digits.endIndex, offsetBy: -scale)
        return (negative ? "-" : "") + digits[..<cut] + "." + digits[cut...]
    }
}
