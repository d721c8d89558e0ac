#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import SwitchboardHost
import SwitchboardSandbox

/// `switchboard run` as a swift-service-lifecycle service: SIGTERM or SIGINT
/// starts a graceful shutdown (reads stop at their last checkpoint, the batch
/// in hand commits, plugins close); `exitWhenIdle` ends it once nothing is left.
public struct RuntimeService: Service {
    let runtime: Runtime
    let exitWhenIdle: Bool

    public init(runtime: Runtime, exitWhenIdle: Bool) {
        self.runtime = runtime
        self.exitWhenIdle = exitWhenIdle
    }

    public func run() async throws {
        runtime.start()
        // A signal that came during start-up (StartupSignals) stops it as one that comes now would.
        while !Task.isShuttingDownGracefully && !Task.isCancelled && !StartupSignals.stopRequested {
            if exitWhenIdle && runtime.isIdle() { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard runtime.stop(timeoutMillis: runtime.config.worker.effectiveStopTimeoutMillis) else {
            // A trusted call never returned: exit without it. Its item was never committed, so it runs
            // again at the next start (writes are idempotent); no process of the host's outlives it.
            let calls = TrustedCallWatchdog.runningCalls()
            runtime.logger.critical("stop did not finish: a trusted plugin's call has not returned; exiting without it", metadata: [
                "waited_ms": .string("\(runtime.config.worker.effectiveStopTimeoutMillis)"),
                "calls": .string(calls.joined(separator: "; ")), "exit_code": .string("\(Self.stopTimedOutExitCode)"),
            ])
            ChildProcesses.endAll()
            fflush(nil)
            _exit(Self.stopTimedOutExitCode)
        }
    }

    /// `switchboard run`'s exit code when a stop outlived `worker.stop_timeout` (docs/SANDBOX.md, "Trusted mode").
    public static let stopTimedOutExitCode: Int32 = 5

    /// Runs the service (and `alongside`, e.g. the HTTP server) until a signal or, with `exitWhenIdle`, until idle.
    public static func runUntilStopped(_ runtime: Runtime, exitWhenIdle: Bool, alongside: [any Service] = [], logger: Logger) async throws {
        let service = RuntimeService(runtime: runtime, exitWhenIdle: exitWhenIdle)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: alongside.map { .init(service: $0) } + [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
