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

    private static func read(_ id: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
