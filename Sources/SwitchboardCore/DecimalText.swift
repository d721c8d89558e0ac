/// Exact addition of decimal strings, for money totals: amounts never pass
/// through Double or a fixed-width integer, so no amount, however many digits
/// an outside system sends, can overflow, trap or be left out of a total.
/// Digit by digit (schoolbook); a leading minus sign is handled.
public enum DecimalText {
    /// `a + b`, exactly, with as many decimals as the longer of the two. A string that is not a decimal
    /// (CanonicalValidator.isDecimal) leaves the other unchanged: amounts reach totals validated.
    public static func add(_ a: String, _ b: String) -> String {
        guard let x = Parsed(a) else { return b }
        guard let y = Parsed(b) else { return a }
        let scale = max(x.fraction.count, y.fraction.count)
        let width = max(x.whole.count, y.whole.count) + scale
        let xs = x.digits(scale: scale, width: width), ys = y.digits(scale: scale, width: width)
        if x.negative == y.negative { return format(sum(xs, ys), scale: scale, negative: x.negative) }
        // Opposite signs: the larger magnitude less the smaller, with the larger's sign.
        return xs.lexicographicallyPrecedes(ys)
            ? format(difference(ys, xs), scale: scale, negative: y.negative)
            : format(difference(xs, ys), scale: scale, negative: x.negative)
    }

    /// A decimal's sign and digits (ASCII values 0...9), integer and fraction parts apart.
    struct Parsed {
        var negative: Bool
        var whole: [UInt8]
        var fraction: [UInt8]

        init?(_ text: String) {
            guard CanonicalValidator.isDecimal(text) else { return nil }
            var utf8 = Substring(text).utf8[...]
            negative = utf8.first == UInt8(ascii: "-")
            if negative { utf8 = utf8.dropFirst() }
            let dot = utf8.firstIndex(of: UInt8(ascii: "."))
            whole = utf8[..<(dot ?? utf8.endIndex)].map { $0 - UInt8(ascii: "0") }
            fraction = dot.map { utf8[utf8.index(after: $0)...].map { $0 - UInt8(ascii: "0") } } ?? []
        }

        /// All digits, most significant first, the fraction padded to `scale` and the whole to `width - scale`.
        func digits(scale: Int, width: Int) -> [UInt8] {
            [UInt8](repeating: 0, count: width - scale - whole.count) + whole + fraction
                + [UInt8](repeating: 0, count: scale - fraction.count)
        }
    }

    /// Digit-wise sum of two equally long digit arrays (one digit longer when it carries).
    static func sum(_ x: [UInt8], _ y: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count + 1)
        var carry: UInt8 = 0
        for i in stride(from: x.count - 1, through: 0, by: -1) {
            let d = x[i] + y[i] + carry
            out[i + 1] = d % 10
            carry = d / 10
        }
        out[0] = carry
        return out
    }

    /// Digit-wise `x - y` of two equally long digit arrays, `x >= y`.
    static func difference(_ x: [UInt8], _ y: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count)
        var borrow: UInt8 = 0
        for i in stride(from: x.count - 1, through: 0, by: -1) {
            let subtrahend = y[i] + borrow
            if x[i] >= subtrahend {
                out[i] = x[i] - subtrahend
                borrow = 0
            } else {
                out[i] = x[i] + 10 - subtrahend
                borrow = 1
            }
        }
        return out
    }

    /// Digits back to text: leading zeros dropped (one kept before the point), no minus sign on zero.
    static func format(_ digits: [UInt8], scale: Int, negative: Bool) -> String {
        // A decimal has at least one digit before its point, so the whole part is never empty.
        let wholeEnd = digits.count - scale
        var start = 0
        while start < wholeEnd - 1 && digits[start] == 0 { start += 1 }
        var text = ""
        text.reserveCapacity(digits.count - start + 2)
        if negative && digits.contains(where: { $0 != 0 }) { text.append("-") }
        for d in digits[start..<wholeEnd] { text.unicodeScalars.append(Unicode.Scalar(d + UInt8(ascii: "0"))) }
        if scale > 0 {
            text.append(".")
            for d in digits[wholeEnd...] { text.unicodeScalars.append(Unicode.Scalar(d + UInt8(ascii: "0"))) }
        }
        return text
    }
}
