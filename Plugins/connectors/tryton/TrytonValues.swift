// Tryton's typed JSON values ({"__class__": "Decimal" | "date" | "datetime" | "timedelta"})
// to and from the canonical model's strings.
import Foundation

enum TrytonValue {
    static func decimal(_ text: String) -> [String: Any] { ["__class__": "Decimal", "decimal": text] }

    static func hours(_ hours: Double) -> [String: Any] { ["__class__": "timedelta", "seconds": hours * 3600] }

    /// A Tryton Decimal (or number) as a canonical decimal string.
    static func decimalString(_ value: Any?) -> String? {
        if let object = value as? [String: Any], let text = object["decimal"] as? String { return text }
        if let number = value as? NSNumber { return number.stringValue }
        return value as? String
    }

    /// A Tryton date as `YYYY-MM-DD`.
    static func dateString(_ value: Any?) -> String? {
        guard let object = value as? [String: Any], let y = object["year"] as? Int, let m = object["month"] as? Int,
              let d = object["day"] as? Int else { return nil }
        return String(format: "%04d-%02d-%02d", y, m, d)
    }

    /// A Tryton (naive UTC) datetime as RFC 3339 with microseconds: it orders as text, so it is also the cursor.
    static func dateTimeString(_ value: Any?) -> String? {
        guard let o = value as? [String: Any], let y = o["year"] as? Int, let mo = o["month"] as? Int, let d = o["day"] as? Int else {
            return nil
        }
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, mo, d, o["hour"] as? Int ?? 0, o["minute"] as? Int ?? 0,
                      o["second"] as? Int ?? 0, o["microsecond"] as? Int ?? 0)
    }

    /// RFC 3339 (as `dateTimeString` writes it) back to a Tryton datetime.
    static func dateTime(_ text: String) -> [String: Any]? {
        let digits = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard digits.count >= 6 else { return nil }
        return ["__class__": "datetime", "year": digits[0], "month": digits[1], "day": digits[2], "hour": digits[3],
                "minute": digits[4], "second": digits[5], "microsecond": digits.count > 6 ? digits[6] : 0]
    }

    /// Hours of a Tryton timedelta (which the JSON-RPC interface carries as total seconds).
    static func hoursOf(_ value: Any?) -> Double {
        (((value as? [String: Any])?["seconds"] as? NSNumber)?.doubleValue ?? 0) / 3600
    }

    /// A decimal string as an exact Decimal (nil if it is not one).
    static func exact(_ text: String) -> Decimal? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-") }) else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// `value` rounded half-even (as Tryton's currencies round) to `places` decimals, written with exactly that many.
    static func fixed(_ value: Decimal, places: Int) -> String {
        var input = value, rounded = Decimal()
        NSDecimalRound(&rounded, &input, places, .bankers)
        let negative = rounded < 0
        var text = "\(negative ? -rounded : rounded)"
        if places > 0 {
            if !text.contains(".") { text += "." }
            let have = text.count - 1 - text.distance(from: text.startIndex, to: text.firstIndex(of: ".")!)
            text += String(repeating: "0", count: max(0, places - have))
        }
        return (negative ? "-" : "") + text
    }

    /// A decimal string with two places (money).
    static func money(_ value: Double) -> String { String(format: "%.2f", value) }
}
