import Logging
import Metrics
import SwitchboardCore
import SwitchboardStore

/// The background pruner (docs/STORE.md "Retention"): every `retention.every`, each tenant's history older
/// than its policy, then the audit trail if `retention.audit` is set, in bounded batches so the queue's own
/// writes interleave with it.
extension Runtime {
    /// Rows per statement: a batch holds the embedded store's writer for a few milliseconds.
    static let pruneBatch = 2_000

    func retentionLoop() {
        // The first pass soon after start, so a host restarted often still prunes.
        var due = Clock.monotonicNanoseconds() + 5_000_000_000
        while !isStopping {
            sleepUnlessStopping(nanos: 250_000_000)
            guard !isStopping, Clock.monotonicNanoseconds() >= due else { continue }
            runRetentionPass(yieldingToStop: true)
            due = Clock.monotonicNanoseconds() + config.retention.everyMillis * 1_000_000
        }
    }

    /// One pruning pass over every tenant (and the audit trail). Errors are logged once per pass and the
    /// next pass tries again: a full disk, say, must not stop the runtime. `yieldingToStop`: end early once
    /// the runtime is stopping (the background loop).
    @discardableResult
    public func runRetentionPass(now: Millis = Clock.nowMillis(), yieldingToStop: Bool = false) -> PruneReport {
        var stopped: Bool { yieldingToStop && isStopping }
        var total = PruneReport()
        do {
            for tenant in config.tenants {
                while !stopped {
                    let report = try store.prune(tenant: tenant.id, policy: tenant.retention, now: now, limit: Self.pruneBatch)
                    total.add(report)
                    if report.total == 0 { break }
                }
            }
            if let keep = config.retention.auditMillis {
                while !stopped {
                    let removed = try store.pruneAudit(before: now - keep, actor: Runtime.ownActor, now: now, limit: Self.pruneBatch)
                    total.auditRows += removed
                    if removed == 0 { break }
                }
            }
        } catch {
            logger.error("retention pass failed; the next pass tries again", metadata: ["error": "\(error)"])
        }
        if total.total > 0 {
            logger.notice("pruned history past its retention", metadata: [
                "transactions": "\(total.doneTransactions)", "exceptions": "\(total.resolvedExceptions)",
                "payloads": "\(total.eventPayloads)", "step_timings": "\(total.stepTimings)",
                "events": "\(total.events)", "audit_rows": "\(total.auditRows)",
            ])
            for (kind, n) in [("transactions", total.doneTransactions), ("exceptions", total.resolvedExceptions),
                              ("payloads", total.eventPayloads), ("step_timings", total.stepTimings),
                              ("events", total.events), ("audit_rows", total.auditRows)] where n > 0 {
                Counter(label: "switchboard_pruned_total", dimensions: [("kind", kind)]).increment(by: n)
            }
        }
        return total
    }
}

extension PruneReport {
    mutating func add(_ other: PruneReport) {
        doneTransactions += other.doneTransactions
        resolvedExceptions += other.resolvedExceptions
        eventPayloads += other.eventPayloads
        stepTimings += other.stepTimings
        events += other.events
        auditRows += other.auditRows
    }
}
