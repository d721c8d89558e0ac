#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one clock every module uses: wall time for the store and audit, a
/// monotonic clock for deadlines and latencies.
public enum Clock {
    /// Milliseconds since the Unix epoch (the store's time unit).
    public static func nowMillis() -> Int64 { unixNanoseconds() / 1_000_000 }

    public static func unixNanoseconds() -> Int64 { read(CLOCK_REALTIME) }

    public static func monotonicNanoseconds() -> Int64 { read(CLOCK_MONOTONIC) }

    /// CPU time the calling thread has used (a system call, not vDSO: a few hundred ns; for benchmarks).
    public static func threadCPUNanoseconds() -> Int64 { read(CLOCK_THREAD_CPUTIME_ID) }

    private static func read(_ id: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

extension Clock {
    /// An instant as ISO-8601 in UTC (`2026-11-27T10:15:00Z`, or `…:00.123Z` with milliseconds), as
    /// Foundation's `ISO8601DateFormatter` writes it. Built by hand: a formatter costs tens of
    /// microseconds to create and is not documented as safe to share across threads here, and
    /// log lines and record stamps need one per call.
    public static func iso8601(unixMillis: Int64, fractionalSeconds: Bool = false) -> String {
        var seconds = time_t(unixMillis.floorDiv(1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if fractionalSeconds { text += "." + pad(Int32(unixMillis - unixMillis.floorDiv(1000) * 1000), 3) }
        return text + "Z"
    }
}

private extension Int64 {
    /// Division rounding toward minus infinity (instants before 1970 keep a non-negative millisecond part).
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
