// Supervision of a sandboxed plugin's worker: starting and loading it, refusing calls while the
// circuit is open or a restart backs off, and a failed worker killed, classified and restarted.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import Synchronization

extension SandboxedPlugin {
    // MARK: supervision

    /// Refuses a call at once while the circuit is open or a restart is backing off.
    func admit() -> CallOutcome? {
        let now = Clock.monotonicNanoseconds()
        return healthRecord.withLock { h -> CallOutcome? in
            if let until = h.circuitOpenUntil, now < until {
                return CallOutcome(status: .retry, diagnostics: [Diagnostic(
                    "circuit open: \(h.consecutiveFailures) consecutive worker failures of plugin \(pluginID); next trial in \((until - now) / 1_000_000) ms",
                    detail: h.lastFailure ?? "")], retryAfterMillis: (until - now) / 1_000_000)
            }
            if worker == nil, let after = h.restartNotBefore, now < after {
                return CallOutcome(status: .retry, diagnostics: [Diagnostic(
                    "sandbox worker restarting in \((after - now) / 1_000_000) ms", detail: h.lastFailure ?? "")],
                                   retryAfterMillis: (after - now) / 1_000_000)
            }
            return nil
        }
    }

    /// The running worker, or a fresh one with the plugin loaded and the instance re-opened.
    func readyWorker() -> WorkerProcess? {
        if let worker { return worker }
        do {
            let (fresh, report, loaded) = try Self.start(path: path, settings: settings)
            guard loaded.descriptor.id == info.descriptor.id else {
                fresh.kill()
                fresh.reap(graceMillis: 0)
                recordFailure("the plugin file changed: it now reports id \(loaded.descriptor.id)", kind: .crash)
                return nil
            }
            hardening = report
            worker = fresh
            healthRecord.withLock { $0.restarts += 1 }
            if let config = openConfig {
                var frame = FrameWriter(type: .call)
                frame.u8(WorkerOp.open.rawValue)
                frame.i64(0)
                frame.map([])
                encodeOpen(config, into: &frame)
                try fresh.channel.send(frame.framed())
                let outcome = try exchange(fresh, op: .open, labels: [:], sink: nil,
                                           watchdog: Clock.monotonicNanoseconds() + settings.defaultCallMillis * 1_000_000)
                guard outcome.isOK else {
                    stopWorker(graceful: false)
                    recordFailure("re-opening the instance after a restart failed: \(outcome.summary)", kind: .crash)
                    return nil
                }
            }
            return fresh
        } catch let failure as StartFailure {
            recordFailure(failure.message, kind: .crash)
        } catch {
            if let w = worker { _ = fail(w, op: .open, error: error, deadlineMillis: 0) }
        }
        return nil
    }

    struct StartFailure: Error {
        var code: String
        var message: String
        var pluginID: String?
    }

    static func start(path: String, settings: SandboxSettings) throws(StartFailure) -> (WorkerProcess, WorkerHardening, PluginInfo) {
        let (worker, report) = try spawnWorker(path: path, settings: settings)
        return (worker, report, try loadPlugin(path: path, in: worker, settings: settings))
    }

    /// Starts a worker and reads its HELLO.
    static func spawnWorker(path: String, settings: SandboxSettings) throws(StartFailure) -> (WorkerProcess, WorkerHardening) {
        let worker: WorkerProcess
        let spawned: SpawnedContainment
        do { (worker, spawned) = try WorkerProcess.spawn(executable: settings.resolvedExecutable, plugin: path, settings: settings) } catch {
            throw StartFailure(code: "sandbox-spawn", message: "\(path): \(error.description)")
        }
        do {
            let hello = try worker.channel.receive(deadline: Clock.monotonicNanoseconds() + settings.startMillis * 1_000_000)
            guard hello.type == FrameType.hello.rawValue, case .hello(let h) = try WorkerFrame.decode(hello) else {
                throw ChannelError.violation("expected HELLO")
            }
            return (worker, WorkerHardening(namespaces: spawned.namespaces, uid: spawned.uid, ownUser: spawned.ownUser,
                                            landlockABI: h.landlockABI, privateRoot: spawned.privateRoot, signalScope: h.signalScope,
                                            seccomp: h.seccomp, rlimits: h.rlimits))
        } catch {
            throw died(worker, path: path, during: "starting", error, settings: settings)
        }
    }

    /// Loads the plugin file in a running worker and returns what it reported. The whole load
    /// (constructors, manifest, init) runs under the start-up deadline; a worker that dies or
    /// hangs is reported with the stage it was in and, once the manifest was read, the plugin's id.
    static func loadPlugin(path: String, in worker: WorkerProcess, settings: SandboxSettings) throws(StartFailure) -> PluginInfo {
        var stage: PluginLibrary.LoadStage?
        var pluginID: String?
        let deadline = Clock.monotonicNanoseconds() + settings.startMillis * 1_000_000
        do {
            var load = FrameWriter(type: .load)
            load.string(path)
            try worker.channel.send(load.framed())
            while true {
                let answer = try worker.channel.receive(deadline: deadline)
                switch try WorkerFrame.decode(answer) {
                case .stage(let reached, let id):
                    stage = reached
                    if !id.isEmpty { pluginID = id }
                case .log, .metric:
                    continue  // init may log; nothing to relay it to yet
                case .loaded(let descriptor, let capabilities, let negotiatedMinor):
                    return PluginInfo(path: path, descriptor: descriptor, capabilities: capabilities, negotiatedMinor: negotiatedMinor)
                case .loadFailed(let code, let message):
                    throw StartFailure(code: code, message: message, pluginID: pluginID)
                default:
                    throw ChannelError.violation("unexpected frame \(answer.type) while loading")
                }
            }
        } catch let failure as StartFailure {
            throw failure
        } catch {
            let during = stage.map { "loading the plugin, \($0.text)" } ?? "loading the plugin"
            throw died(worker, path: path, during: during, error, settings: settings, pluginID: pluginID)
        }
    }

    /// A worker that failed to start or load: killed, reaped, and described as what happened to it.
    static func died(_ worker: WorkerProcess, path: String, during: String, _ error: any Error, settings: SandboxSettings,
                             pluginID: String? = nil) -> StartFailure {
        let timedOut = (error as? ChannelError).map { if case .timedOut = $0 { true } else { false } } ?? false
        worker.kill()
        let status = worker.reap(graceMillis: 0)
        if timedOut {
            return StartFailure(code: "sandbox-timeout", message: "\(path): the sandbox worker did not finish \(during) within \(settings.startMillis) ms; it was killed",
                                pluginID: pluginID)
        }
        let death = WorkerDeath.describe(status: status, output: worker.output.text, limitMB: settings.limits.memoryMB)
        let code = death.kind == .exit ? "sandbox-exit" : "sandbox-crash"
        var detail = if case .violation(let why)? = error as? ChannelError { " (\(why))" } else { "" }
        // What it printed last (the dynamic linker's or the plugin's own words), scrubbed.
        let printed = worker.output.printed(lines: 2).replacingOccurrences(of: "\n", with: " / ")
        if !printed.isEmpty { detail += "; it printed: \(Redactor.redact(String(printed.suffix(300))))" }
        return StartFailure(code: code, message: "\(path): the sandbox worker \(death.text) while \(during)\(detail)", pluginID: pluginID)
    }

    /// The worker failed during a call: kill, reap, classify, schedule a restart, answer RETRY.
    func fail(_ worker: WorkerProcess, op: WorkerOp, error: any Error, deadlineMillis: Int64) -> CallOutcome {
        let timedOut = (error as? ChannelError).map { if case .timedOut = $0 { true } else { false } } ?? false
        let cancelledByHost = cancelled.load(ordering: .relaxed)
        worker.kill()
        let status = worker.reap(graceMillis: 0)
        self.worker = nil
        let death: (text: String, kind: PluginHealth.FailureKind)
        if cancelledByHost {
            death = ("was stopped: the host cancelled \(op.name)", .cancelled)
        } else if timedOut {
            death = ("hung: no answer to \(op.name) within its deadline plus \(settings.graceMillis) ms grace; worker killed", .hang)
        } else if case .violation(let why)? = error as? ChannelError {
            death = ("broke the protocol during \(op.name) (\(why)); worker killed", .protocolViolation)
        } else {
            let d = WorkerDeath.describe(status: status, output: worker.output.text, limitMB: settings.limits.memoryMB)
            death = ("\(d.text) during \(op.name)", d.kind)
        }
        healthRecord.withLock { $0.printedBytes += worker.output.totalBytes }
        let message = "plugin \(pluginID) (sandboxed) \(death.text)"
        recordFailure(message, kind: death.kind)
        if death.kind != .cancelled {
            services.logger.warning("sandbox worker failed", metadata: [
                "plugin": .string(pluginID), "tenant": .string(services.tenant), "connection": .string(services.connection),
                "error": .string(Redactor.redact(message)),
            ])
        }
        let code: OperationStatus = death.kind == .cancelled ? .cancelled : .retry
        let printed = worker.output.printed()
        return CallOutcome(status: code, diagnostics: [Diagnostic(message, detail: Redactor.redact(String(printed.suffix(512))))])
    }

    func recordFailure(_ message: String, kind: PluginHealth.FailureKind) {
        let now = Clock.monotonicNanoseconds()
        healthRecord.withLock { h in
            h.failed(kind, message: message)
            let exponent = min(h.consecutiveFailures - 1, 20)
            let backoff = min(settings.maxRestartBackoffMillis, settings.restartBackoffMillis << exponent)
            h.restartNotBefore = now + backoff * 1_000_000
            if h.consecutiveFailures >= settings.breakerFailures {
                h.circuitOpenUntil = now + settings.breakerCooldownMillis * 1_000_000
            }
        }
    }

    func stopWorker(graceful: Bool) {
        guard let worker else { return }
        self.worker = nil
        if graceful {
            try? worker.channel.send(FrameWriter(type: .quit).framed())
            worker.reap(graceMillis: 2_000)
        } else {
            worker.kill()
            worker.reap(graceMillis: 0)
        }
    }
}
