/// Durations as people write them in configs and on the command line.
public enum DurationText {
    /// `500ms`, `2s`, `5m`, `24h`, `90d`, or a plain number of seconds, in milliseconds; nil if it is none of those,
    /// negative, or too long to count in milliseconds.
    public static func millis(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var number = text, factor = 1000.0
        if let unit = units.first(where: { text.hasSuffix($0.0) }) {
            number = String(text.dropLast(unit.0.count))
            factor = unit.1
        }
        guard let n = Double(number), n >= 0, n.isFinite, n * factor < 9.2e18 else { return nil }
        return Int64(n * factor)
    }
}
