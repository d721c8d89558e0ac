import Foundation
import SwitchboardCore

/// What paces one connection's requests. The default is a token bucket in this
/// process; several hosts sharing a store use one bucket kept in the store.
public protocol RateLimiter: Sendable {
    /// Waits for a token; false if that would take longer than `maxWait` seconds.
    func take(maxWait: Double) -> Bool
}

/// A token bucket (rate per second, burst) shared by the calls of one connection in this process.
final class TokenBucket: RateLimiter, @unchecked Sendable {
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
