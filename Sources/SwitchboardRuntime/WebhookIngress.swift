// Push ingress: a webhook delivery handed to the connection's plugin, its
// events committed like a polled batch, and every refusal made visible: a
// metric, a log line, an audit row (coalesced, so a flood of forged
// deliveries cannot flood the trail), and the connection marked degraded
// while refusals keep coming (a rotated secret, a forger, a broken proxy).
import Foundation
import Logging
import Synchronization
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// What became of one webhook delivery.
public struct WebhookReceipt: Sendable {
    /// The plugin's verdict (`auth`: not authentic; `ok`: accepted).
    public var outcome: CallOutcome
    /// What the accepted delivery's events did to the event log; nil when refused.
    public var stored: IngestOutcome?
}

/// Refused webhook deliveries of one connection over a sliding window: the
/// connection is degraded while `threshold` or more fall within `window`.
public final class DeliveryRefusals: Sendable {
    public static let threshold = 5
    public static let windowMillis: Int64 = 60_000
    /// At most one audit row per connection in this span; the next row counts the refusals it covers.
    static let auditEveryMillis: Int64 = 10_000

    private struct State {
        /// Refusals per second over the window: one bucket per second, stamped with its second (a flood of forged
        /// deliveries costs O(1) each and fixed memory, not a list that grows with it).
        var buckets = [(second: Int64, count: Int)](repeating: (-1, 0), count: Int(DeliveryRefusals.windowMillis / 1000))
        var total = 0
        var lastReason = ""
        var lastAudit: Int64?
        var unaudited = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Records one refusal at `now`; returns how many refusals an audit row should cover now (0: not yet).
    func refused(reason: String, now: Int64) -> Int {
        state.withLock { s in
            let second = now / 1000, slot = Int(second % Int64(s.buckets.count))
            if s.buckets[slot].second == second { s.buckets[slot].count += 1 } else { s.buckets[slot] = (second, 1) }
            s.total += 1
            s.lastReason = reason
            s.unaudited += 1
            if let last = s.lastAudit, now - last < Self.auditEveryMillis { return 0 }
            s.lastAudit = now
            defer { s.unaudited = 0 }
            return s.unaudited
        }
    }

    /// Refusals within the window ending `now` (to the second).
    public func recent(now: Int64 = Clock.nowMillis()) -> Int {
        let second = now / 1000, span = Self.windowMillis / 1000
        return state.withLock { s in s.buckets.reduce(0) { $0 + ($1.second > second - span ? $1.count : 0) } }
    }

    public var total: Int { state.withLock { $0.total } }
    public var lastReason: String? { state.withLock { $0.total == 0 ? nil : $0.lastReason } }

    /// Degraded: `threshold` or more refusals within the window.
    public func degraded(now: Int64 = Clock.nowMillis()) -> Bool { recent(now: now) >= Self.threshold }
}

extension Runtime {
    /// Hands one delivery to `connection`'s plugin and, if it is authentic, commits its events (validated,
    /// echo-checked, deduplicated) in one transaction. Blocking: call it off the cooperative pool. Throws
    /// `StoreUnavailable` when the store cannot write: the delivery must not be acknowledged.
    public func receiveWebhook(_ connection: Connection, method: String, url: String, headers: [(name: String, value: String)],
                               body: [UInt8]) throws -> WebhookReceipt {
        var events: [(key: String, data: [UInt8])] = []
        let outcome = connection.instance.handleWebhook(method: method, url: url, headers: headers, body: body,
                                                        deadline: Clock.monotonicNanoseconds() + 10_000_000_000) { item in
            if item.kind == .event { events.append((item.keyString, item.dataBytes)) }
            return .ok
        }
        guard outcome.isOK else {
            refuse(connection, outcome)
            return WebhookReceipt(outcome: outcome, stored: nil)
        }
        let stored: IngestOutcome
        do {
            stored = try ingest(tenant: connection.tenant, source: connection.id, kind: .event, items: events)
            storeOutage.succeeded()
        } catch {
            storeOutage.failed(error, while: "storing a webhook delivery")
            throw StoreUnavailable(retryAfterSeconds: StoreOutage.retryAfterSeconds)
        }
        RuntimeMetrics.eventsIn(connection.tenant, connection.id, stored.inserted)
        RuntimeMetrics.rejected(connection.tenant, connection.id, stored.rejected)
        return WebhookReceipt(outcome: outcome, stored: stored)
    }

    /// A refused delivery stores nothing, so it is made visible instead (metric, log, audit, health).
    private func refuse(_ connection: Connection, _ outcome: CallOutcome) {
        let reason = Redactor.redact(outcome.diagnostics.first?.summary ?? outcome.status.description)
        RuntimeMetrics.webhookRefused(connection.tenant, connection.id, outcome.status.description)
        logger.warning("webhook delivery refused", metadata: [
            "tenant": .string(connection.tenant), "connection": .string(connection.id),
            "status": .string(outcome.status.description), "reason": .string(reason)])
        let covered = connection.refusals.refused(reason: reason, now: Clock.nowMillis())
        guard covered > 0 else { return }
        auditOwnDecision("webhook.refuse", target: "\(connection.tenant)/\(connection.id)",
                         detail: covered == 1 ? "\(outcome.status): \(reason)"
                             : "\(covered) deliveries refused since the last row; the latest \(outcome.status): \(reason)")
    }
}
