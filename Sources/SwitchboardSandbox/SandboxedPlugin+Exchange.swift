// The call path of a sandboxed plugin: one CALL frame out, then the worker's frames until its
// RESULT — emitted items checked against the operation and handed to the sink, log lines and
// metrics relayed, REQUESTs answered by the host's services — and a call that outlives its
// patience detached.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import Synchronization

extension SandboxedPlugin {
    // MARK: the call path

    /// The host's rules for this instance's requests, as the connection is open now.
    var policy: HostServicesPolicy { HostServicesPolicy(services: services, pluginID: pluginID) }

    func encodeOpen(_ config: [UInt8], into frame: inout FrameWriter) {
        frame.bytes(config)
        frame.bool(services.rawSecretsAllowed)
        frame.string(services.tenant)
        frame.string(services.connection)
    }

    func call(_ op: WorkerOp, deadline: Int64 = 0, labels: [String: String] = [:], detachable: Bool = false, sink: EmitSink?,
                      arguments: (inout FrameWriter) -> Void) -> CallOutcome {
        serial.lock()
        defer { serial.unlock() }
        if closed { return CallOutcome(status: .fatal, diagnostics: [Diagnostic("\(op.name): the instance is closed")]) }
        if let busy = detached {
            let now = Clock.monotonicNanoseconds()
            return CallOutcome(status: .retry, diagnostics: [Diagnostic(
                "plugin \(pluginID) (sandboxed) is busy: its \(busy.op.name) call has run \((now - busy.since) / 1_000_000) ms")],
                               retryAfterMillis: max(1, min((busy.watchdog - now) / 1_000_000, 1_000)))
        }
        cancelled.store(false, ordering: .relaxed)
        if let refusal = admit() { return refusal }
        guard let worker = readyWorker() else {
            return healthRecord.withLock { CallOutcome(status: .retry, diagnostics: [Diagnostic($0.lastFailure ?? "sandbox worker unavailable")]) }
        }
        let effectiveDeadline = deadline != 0 ? deadline : Clock.monotonicNanoseconds() + settings.defaultCallMillis * 1_000_000
        var frame = FrameWriter(type: .call)
        frame.u8(op.rawValue)
        frame.i64(deadline)
        frame.map(labels.map { ($0.key, $0.value) })
        arguments(&frame)
        let watchdog = effectiveDeadline + settings.graceMillis * 1_000_000
        let started = Clock.monotonicNanoseconds()
        let detachAt = detachable && settings.detachAfterMillis > 0 ? started + settings.detachAfterMillis * 1_000_000 : nil
        do {
            try worker.channel.send(frame.framed())
            let outcome = try exchange(worker, op: op, labels: labels, sink: sink, watchdog: watchdog, detachAt: detachAt)
            healthRecord.withLock { $0.succeeded() }
            return outcome
        } catch .detached {
            return detach(worker, op: op, since: started, watchdog: watchdog)
        } catch {
            return fail(worker, op: op, error: error, deadlineMillis: (effectiveDeadline - Clock.monotonicNanoseconds()) / 1_000_000)
        }
    }

    /// Stops waiting for a call that outlived `detachAfterMillis`: a thread follows it to its end (its
    /// items are dropped; the caller got RETRY, and a write's retry is idempotent), and until then the
    /// plugin's other calls are answered RETRY at once. Called under `serial`.
    func detach(_ worker: WorkerProcess, op: WorkerOp, since: Int64, watchdog: Int64) -> CallOutcome {
        detached = (op, since, watchdog)
        let thread = Thread { [self] in
            let result: Result<CallOutcome, ChannelError>
            do throws(ChannelError) {
                result = .success(try exchange(worker, op: op, labels: [:], sink: nil, watchdog: watchdog, detachAt: nil))
            } catch { result = .failure(error) }
            serial.lock()
            defer {
                detached = nil
                serial.unlock()
            }
            // Closed or replaced meanwhile: that path already stopped this worker.
            guard self.worker === worker else { return }
            switch result {
            case .success: healthRecord.withLock { $0.succeeded() }
            case .failure(let error): _ = fail(worker, op: op, error: error, deadlineMillis: 0)
            }
        }
        thread.stackSize = 512 * 1024
        thread.start()
        let waited = (Clock.monotonicNanoseconds() - since) / 1_000_000
        services.logger.warning("sandboxed call still running: the caller stopped waiting", metadata: [
            "plugin": .string(pluginID), "tenant": .string(services.tenant), "connection": .string(services.connection),
            "operation": .string(op.name), "waited_ms": .string("\(waited)"),
        ])
        return CallOutcome(status: .retry, diagnostics: [Diagnostic(
            "plugin \(pluginID) (sandboxed) did not answer \(op.name) within \(settings.detachAfterMillis) ms; the call runs on until its deadline, and this connection's other calls wait for it",
            detail: "tenant \(services.tenant), connection \(services.connection)")],
                           retryAfterMillis: max(1, min((watchdog - Clock.monotonicNanoseconds()) / 1_000_000, 1_000)))
    }

    /// Reads the worker's frames until the call's RESULT, serving its requests on the way. Past
    /// `detachAt` (if given) it throws `.detached`: the call is still the worker's, unanswered.
    func exchange(_ worker: WorkerProcess, op: WorkerOp, labels: [String: String], sink: EmitSink?,
                          watchdog: Int64, detachAt: Int64? = nil) throws(ChannelError) -> CallOutcome {
        var sinkStopped = false
        var watchdog = watchdog
        var cancelSeen = false
        while true {
            // A host cancel gives the plugin the grace period to return, then the worker is killed.
            if !cancelSeen && cancelled.load(ordering: .relaxed) {
                cancelSeen = true
                watchdog = min(watchdog, Clock.monotonicNanoseconds() + settings.graceMillis * 1_000_000)
            }
            let frame: Frame
            do {
                frame = try worker.channel.receive(deadline: min(watchdog, detachAt ?? .max, Clock.monotonicNanoseconds() + 100_000_000))
            } catch .timedOut {
                let now = Clock.monotonicNanoseconds()
                if let detachAt, now >= detachAt, now < watchdog, !cancelled.load(ordering: .relaxed) { throw .detached }
                if now < watchdog { continue }
                throw .timedOut
            }
            do {
                switch try WorkerFrame.decode(frame) {
                case .emit(let kind, let key, let data):
                    // The worker's own checks ran in the plugin's process: the host's are the ones that count.
                    if let refusal = HostServicesPolicy.workerEmitRefusal(kind: kind, keyBytes: key.count, dataBytes: data.count,
                                                                          operation: op.operation) {
                        throw ProtocolViolation(description: refusal.diagnostic.summary) as any Error
                    }
                    guard !sinkStopped, let sink else { continue }
                    let status = key.withUnsafeBytes { k in data.withUnsafeBytes { d in sink(EmittedItem(kind: kind, key: k, data: d)) } }
                    if status == .cancelled { sinkStopped = true }
                case .log(let level, let message, let metadata):
                    policy.log(level: level, message: message, fields: metadata, labels: labels, origin: "worker")
                case .metric(let kind, let name, let value, let extra):
                    guard let kind else { continue }
                    policy.metric(kind, name: name, value: value, labels: extra)
                case .request(let request):
                    try worker.channel.send(HostServicesServer(policy: policy).answer(request).framed())
                case .result(var outcome):
                    if sinkStopped && outcome.status == .ok { outcome.status = .cancelled }
                    return outcome
                default:
                    throw ProtocolViolation(description: "unexpected frame type \(frame.type) during \(op.name)")
                }
            } catch let violation as ProtocolViolation {
                throw .violation(violation.description)
            } catch let channel as ChannelError {
                throw channel
            } catch {
                throw .violation("\(error)")
            }
        }
    }
}

extension WorkerOp {
    /// The contract's operation this frame carries (its emit rules).
    var operation: PluginOperation { PluginOperation(rawValue: name)! }
}
