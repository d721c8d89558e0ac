/// Nearest-rank percentiles of sorted samples, in integer arithmetic so every
/// screen (quickstart summary, API, dashboard) shows the same figure.
public enum Percentile {
    /// The `percent`-th percentile of `sorted` (ascending), nil when empty.
    public static func of(_ sorted: [Int64], _ percent: Int) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, sorted.count * percent / 100)]
    }
}
