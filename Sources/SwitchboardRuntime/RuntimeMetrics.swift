import Metrics
import SwitchboardCore
import SwitchboardHost
import SwitchboardSandbox
import SwitchboardStore

/// The runtime's metrics (swift-metrics API; `switchboard run --metrics-port`
/// exports them in the Prometheus text format). Names and labels:
///
/// - `switchboard_events_in_total{tenant,connection}`: events and records accepted into the log
/// - `switchboard_records_rejected_total{tenant,connection}`: records that failed validation (exception items)
/// - `switchboard_transactions_total{tenant,workflow,outcome}`: done, retry, exception, parked
/// - `switchboard_retries_total{tenant,workflow,connection}`
/// - `switchboard_exception_queue_depth{tenant}`: open exception items
/// - `switchboard_transaction_seconds{tenant,workflow}`: received -> done latency (histogram)
/// - `switchboard_step_seconds{workflow,step}`: plugin call durations per workflow step (histogram)
/// - `switchboard_egress_requests_total{connection,status}`: HTTP egress by status code (SwitchboardEgress)
/// - `switchboard_plugin_<name>{plugin,connection}`: what plugins record through the host's metric slot
/// - `switchboard_connection_degraded{tenant,connection}`: 1 while a sandboxed plugin's worker keeps failing
/// - `switchboard_sandbox_circuit_open{tenant,connection}`: 1 while its circuit breaker refuses calls
/// - `switchboard_sandbox_worker_failures{tenant,connection,kind}`: worker failures so far by kind (crash, out_of_memory, hang, exit, protocol)
/// - `switchboard_sandbox_worker_restarts{tenant,connection}`
/// - `switchboard_scheduler`: 1 while this host runs polling (holds the scheduler lock; always 1 on the embedded store)
/// - `switchboard_poll_round_timestamp_seconds`: Unix time this host's scheduler last finished a round of polls.
///   A scheduler that is alive but stuck stops moving this (on a shared store another host takes the role after
///   `worker.scheduler_stall`): alert on `time() - switchboard_poll_round_timestamp_seconds` where `switchboard_scheduler == 1`.
enum RuntimeMetrics {
    static func eventsIn(_ tenant: String, _ connection: String, _ n: Int) {
        guard n > 0 else { return }
        Counter(label: "switchboard_events_in_total", dimensions: [("tenant", tenant), ("connection", connection)]).increment(by: n)
    }

    static func rejected(_ tenant: String, _ connection: String, _ n: Int) {
        guard n > 0 else { return }
        Counter(label: "switchboard_records_rejected_total", dimensions: [("tenant", tenant), ("connection", connection)]).increment(by: n)
    }

    /// One batch's outcomes. Metric handles are made once per batch and label set: making one (the factory
    /// checks its name and looks it up in the registry under a lock) cost more than the rest of an item's metrics.
    struct Batch {
        /// A metric's label values, in its label order (`c` empty where it has two).
        private struct Key: Hashable { var a: String, b: String, c: String }
        private var transactions: [Key: Int] = [:]
        private var retries: [Key: Int] = [:]
        private var latency: [Key: Recorder] = [:]
        private var steps: [Key: Recorder] = [:]
        /// The handles the previous item used, compared before any lookup: a batch's items mostly share their
        /// workflow, and hashing the label values for every item and step was about a quarter of an item's
        /// metrics (`perf`, `bench runtime`: 4.6% of the worker before, 3.5% after).
        private var lastLatency: (tenant: String, workflow: String, recorder: Recorder)?
        private var lastSteps: (workflow: String, handles: [(step: String, recorder: Recorder)]) = ("", [])

        mutating func record(_ item: ClaimedWork, _ outcome: WorkOutcome) {
            let name: String
            switch outcome.disposition {
            case .done: name = "done"
            case .retry: name = "retry"
            case .exception: name = "exception"
            case .parked: name = "parked"
            }
            transactions[Key(a: item.tenant, b: item.workflow, c: name), default: 0] += 1
            if case .retry = outcome.disposition {
                retries[Key(a: item.tenant, b: item.workflow, c: outcome.connection ?? "-"), default: 0] += 1
            }
            if case .done = outcome.disposition {
                let recorder: Recorder
                if let last = lastLatency, last.tenant == item.tenant, last.workflow == item.workflow {
                    recorder = last.recorder
                } else {
                    recorder = Self.recorder(in: &latency, Key(a: item.tenant, b: item.workflow, c: "")) {
                        Recorder(label: "switchboard_transaction_seconds", dimensions: [("tenant", item.tenant), ("workflow", item.workflow)],
                                 aggregate: true)
                    }
                    lastLatency = (item.tenant, item.workflow, recorder)
                }
                recorder.record(Double(Clock.nowMillis() - item.event.receivedAt) / 1000)
            }
            if lastSteps.workflow != item.workflow { lastSteps = (item.workflow, []) }
            for (i, step) in outcome.steps.enumerated() {
                if i < lastSteps.handles.count && lastSteps.handles[i].step == step.step {
                    lastSteps.handles[i].recorder.record(step.millis / 1000)
                    continue
                }
                let recorder = Self.recorder(in: &steps, Key(a: item.workflow, b: step.step, c: "")) {
                    Recorder(label: "switchboard_step_seconds", dimensions: [("workflow", item.workflow), ("step", step.step)], aggregate: true)
                }
                if i < lastSteps.handles.count { lastSteps.handles[i] = (step.step, recorder) } else { lastSteps.handles.append((step.step, recorder)) }
                recorder.record(step.millis / 1000)
            }
        }

        /// The batch's handle for `key`, made on first use. Looked up once per use: storing it back every time
        /// hashed the label values again, per item and per step.
        private static func recorder(in handles: inout [Key: Recorder], _ key: Key, make: () -> Recorder) -> Recorder {
            if let known = handles[key] { return known }
            let made = make()
            handles[key] = made
            return made
        }

        /// Adds the batch's counts to the counters.
        func flush() {
            for (key, n) in transactions {
                Counter(label: "switchboard_transactions_total", dimensions: [("tenant", key.a), ("workflow", key.b), ("outcome", key.c)])
                    .increment(by: n)
            }
            for (key, n) in retries {
                Counter(label: "switchboard_retries_total", dimensions: [("tenant", key.a), ("workflow", key.b), ("connection", key.c)])
                    .increment(by: n)
            }
        }
    }

    /// One webhook delivery refused by its connection (`status`: auth for a bad signature, config, fatal, retry).
    static func webhookRefused(_ tenant: String, _ connection: String, _ status: String) {
        Counter(label: "switchboard_webhook_refused_total", dimensions: [("tenant", tenant), ("connection", connection), ("status", status)])
            .increment()
    }

    /// 1 while a connection is degraded (sandbox worker failing, or webhook deliveries refused in a burst).
    static func degraded(_ tenant: String, _ connection: String, _ degraded: Bool) {
        Gauge(label: "switchboard_connection_degraded", dimensions: [("tenant", tenant), ("connection", connection)]).record(degraded ? 1 : 0)
    }

    /// Sandbox health of one connection (the poller refreshes it about once a second).
    static func sandbox(_ tenant: String, _ connection: String, _ health: PluginHealth) {
        let labels = [("tenant", tenant), ("connection", connection)]
        Gauge(label: "switchboard_sandbox_circuit_open", dimensions: labels).record(health.circuitOpen ? 1 : 0)
        Gauge(label: "switchboard_sandbox_worker_restarts", dimensions: labels).record(health.restarts)
        for (kind, count) in health.failures {
            Gauge(label: "switchboard_sandbox_worker_failures", dimensions: labels + [("kind", kind.rawValue)]).record(count)
        }
    }

    static func exceptionDepth(_ tenant: String, _ depth: Int) {
        Gauge(label: "switchboard_exception_queue_depth", dimensions: [("tenant", tenant)]).record(depth)
    }

    /// This host's scheduler finished a round of polls now.
    static func pollRoundFinished() {
        Gauge(label: "switchboard_poll_round_timestamp_seconds").record(Double(Clock.nowMillis()) / 1000)
    }

    /// 1 while this host holds the scheduler lock (runs polling), else 0.
    static func scheduler(_ holds: Bool) {
        Gauge(label: "switchboard_scheduler").record(holds ? 1 : 0)
    }
}

/// Routes what plugins record through `sb_host_api.metric` into swift-metrics.
struct PluginMetrics: PluginMetricsSink {
    func record(kind: PluginMetricKind, name: String, value: Double, labels: [String: String]) {
        // Plugin-chosen names are namespaced and reduced to the Prometheus alphabet.
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        let dimensions = [("plugin", labels["plugin"] ?? "-"), ("connection", labels["connection"] ?? "-")]
        switch kind {
        case .counter: Counter(label: "switchboard_plugin_\(safe)", dimensions: dimensions).increment(by: Int(value))
        case .gauge: Gauge(label: "switchboard_plugin_\(safe)", dimensions: dimensions).record(value)
        case .histogram: Recorder(label: "switchboard_plugin_\(safe)", dimensions: dimensions, aggregate: true).record(value)
        }
    }
}
