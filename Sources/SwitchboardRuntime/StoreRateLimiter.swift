import Foundation
import SwitchboardCore
import SwitchboardEgress
import SwitchboardStore

/// A connection's egress rate limit kept in a shared store: every host draws
/// from one bucket, so N hosts together stay within the API's limit.
public final class StoreRateLimiter: RateLimiter, @unchecked Sendable {
    private let store: any SharedRateLimits
    private let key: String
    private let rate: Double
    private let burst: Double

    public init(store: any SharedRateLimits, key: String, ratePerSecond: Double, burst: Int) {
        self.store = store
        self.key = key
        rate = ratePerSecond
        self.burst = Double(max(burst, 1))
    }

    public func take(maxWait: Double) -> Bool {
        let wait: Double
        do {
            wait = try store.reserveToken(key: key, ratePerSecond: rate, burst: burst, now: Clock.nowMillis())
        } catch {
            return false  // the store is unreachable: the call is retried later (RETRY), never sent unpaced
        }
        guard wait <= maxWait else {
            try? store.returnToken(key: key)
            return false
        }
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        return true
    }
}
