import Foundation
import SwitchboardCore

/// A token bucket (rate per second, burst) shared by the calls of one connection.
final class TokenBucket: @unchecked Sendable {
    private let rate: Double
    private let capacity: Double
    private var tokens: Double
    private var last: Double
    private let lock = Lock()

    init(ratePerSecond: Double, burst: Int) {
        rate = ratePerSecond
        capacity = Double(max(burst, 1))
        tokens = capacity
        last = Self.now()
    }

    static func now() -> Double { Double(Clock.monotonicNanoseconds()) / 1e9 }

    /// Waits for a token; false if that would take longer than `maxWait` seconds.
    func take(maxWait: Double) -> Bool {
        let wait: Double = lock.withLock {
            let now = Self.now()
            tokens = min(capacity, tokens + (now - last) * rate)
            last = now
            tokens -= 1
            return tokens >= 0 ? 0 : -tokens / rate
        }
        guard wait <= maxWait else {
            lock.withLock { tokens += 1 }
            return false
        }
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        return true
    }
}
