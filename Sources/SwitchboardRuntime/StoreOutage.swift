// A store that cannot write (a full disk, a lost database) stops everything at once: every webhook, poll and
// commit fails the same way. The outage is logged once when it starts and once when it ends, with how many
// writes failed in between, instead of once per event; webhooks meanwhile answer 503 with Retry-After
// (nothing unstored is acknowledged), polls keep their cursors, and claimed work runs again once it commits.
import Logging
import Synchronization
import SwitchboardCore

/// The webhook answer while the store cannot write: the sender keeps the delivery and sends it again.
public struct StoreUnavailable: Error, CustomStringConvertible {
    /// Seconds the sender should wait (Retry-After).
    public var retryAfterSeconds: Int
    public var description: String { "the delivery could not be stored; send it again in \(retryAfterSeconds) s" }
}

/// Tracks whether the store's writes fail, logging each outage's start and end once.
public final class StoreOutage: Sendable {
    private struct State {
        var since: Int64?
        var failures = 0
    }
    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Seconds a webhook sender is asked to wait while the store cannot write.
    public static let retryAfterSeconds = 5

    /// True while writes fail.
    public var isDown: Bool { state.withLock { $0.since != nil } }

    /// A write failed with `error` while doing `what` (e.g. "storing a webhook delivery").
    func failed(_ error: any Error, while what: String) {
        let first = state.withLock { s -> Bool in
            s.failures += 1
            guard s.since == nil else { return false }
            s.since = Clock.monotonicNanoseconds()
            return true
        }
        guard first else { return }
        logger.error("the store cannot write; webhooks answer 503 with Retry-After, reads and work wait, and all resume by themselves once it can", metadata: [
            "while": .string(what), "error": .string(Redactor.redact("\(error)")),
        ])
    }

    /// A write succeeded: ends an outage, if there was one.
    func succeeded() {
        let ended = state.withLock { s -> (Int64, Int)? in
            guard let since = s.since else { return nil }
            defer { s = State() }
            return ((Clock.monotonicNanoseconds() - since) / 1_000_000, s.failures)
        }
        guard let (millis, failures) = ended else { return }
        logger.notice("the store writes again", metadata: ["down_ms": .string("\(millis)"), "failed_writes": .string("\(failures)")])
    }
}
