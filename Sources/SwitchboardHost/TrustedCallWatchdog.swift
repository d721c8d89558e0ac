import Foundation
import Logging
import SwitchboardCore

/// Watches in-process (trusted) plugin calls, which nothing can stop: a call past its deadline by
/// more than the grace is logged once, naming plugin, tenant and connection (docs/SANDBOX.md,
/// "Trusted mode"). Sandboxed calls are the supervisor's: a worker past its deadline is killed.
public enum TrustedCallWatchdog {
    private static let started = NSLock()
    nonisolated(unsafe) private static var running = false

    /// Starts the scan (once per process), every `intervalMillis`.
    public static func start(logger: Logger, graceMillis: Int64 = 1_000, intervalMillis: UInt32 = 500) {
        started.lock()
        defer { started.unlock() }
        guard !running else { return }
        running = true
        let thread = Thread {
            ThreadName.setCurrent("switchboard.call-watchdog")
            while true {
                usleep(intervalMillis * 1_000)
                let now = Clock.monotonicNanoseconds()
                CallHandles.forEach { context in
                    guard let overrun = context.overrun(now: now, graceNanos: graceMillis * 1_000_000) else { return }
                    logger.error("a trusted plugin's call overran its deadline; in-process it cannot be stopped", metadata: [
                        "plugin": .string(overrun.plugin), "tenant": .string(overrun.tenant), "connection": .string(overrun.connection),
                        "past_deadline_ms": .string("\(overrun.pastDeadlineMillis)"),
                        "hint": .string("run it sandboxed (remove it from plugins.trusted) to have it stopped and restarted"),
                    ])
                }
            }
        }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// The in-process calls running now: "plugin (connection)", and how far past its deadline.
    public static func runningCalls() -> [String] {
        let now = Clock.monotonicNanoseconds()
        var calls: [String] = []
        CallHandles.forEach { context in
            guard let call = context.running(now: now) else { return }
            calls.append("\(call.plugin) (\(call.connection))" + (call.pastDeadlineMillis.map { ", \($0) ms past its deadline" } ?? ""))
        }
        return calls
    }
}
