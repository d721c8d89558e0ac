import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SwitchboardAdmin
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardSandbox

/// `switchboard run`: the foreground daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the integrations of a configuration (foreground; SIGTERM drains and exits).")

    @Option(help: "The configuration file (YAML).")
    var config: String

    @Flag(help: "Exit once every connection is read and the queue is empty (batch jobs, tests). Exits 6, naming them, if a connection is failing, paused or did not start.")
    var exitWhenIdle = false

    @Option(help: "Serve Prometheus metrics at http://127.0.0.1:PORT/metrics.")
    var metricsPort: Int?

    @Option(help: "Serve webhook ingress, the admin API and health checks on this port (docs/ADMIN-API.md).")
    var httpPort: Int?

    @Option(help: "Address the HTTP server binds to.")
    var httpHost = "127.0.0.1"

    func run() async throws {
        StartupSignals.install()  // first: a stop while starting must end in a clean exit, not death by signal
        ChildProcesses.becomeSubreaper()  // what a trusted plugin forks and orphans stays the host's to end
        let logger = CLILogging.bootstrap()
        PrometheusExport.bootstrap()
        let runtime = try openRuntime(config: config, logger: logger)
        logger.info("switchboard running", metadata: ["config": "\(config)", "store": "\(runtime.config.store)",
                                                     "connections": "\(runtime.registry.all.count)"])
        let host = httpHost
        var servers: [any Service] = []
        if let port = httpPort {
            servers.append(AdminServer.application(runtime: runtime, host: host, port: port, logger: logger, branding: runtime.config.branding,
                                                   metrics: PrometheusExport.text) { bound in
                logger.info("http server listening", metadata: ["address": "\(host):\(bound)"])
            })
        }
        if let port = metricsPort {
            // Loopback only, as before: a scrape port beside the admin server, not a second public server.
            servers.append(AdminServer.metricsApplication(runtime: runtime, host: "127.0.0.1", port: port, logger: logger,
                                                          metrics: PrometheusExport.text) { bound in
                logger.info("metrics listening", metadata: ["address": "127.0.0.1:\(bound)"])
            })
        }
        try await RuntimeService.runUntilStopped(runtime, exitWhenIdle: exitWhenIdle, alongside: servers, logger: logger)
        // Idle is not done when a connection could not be read: a batch job must not pass with changes unread.
        let unsettled = exitWhenIdle ? runtime.unsettledConnections() : []
        let orphans = ChildProcesses.endAll()
        if orphans > 0 { logger.warning("ended processes a plugin left behind", metadata: ["processes": "\(orphans)"]) }
        // Claimed and never committed: 0 after a clean drain (such items run again at the next start).
        logger.info("switchboard stopped", metadata: ["processed": "\(runtime.counters.itemsProcessed)",
                                                     "uncommitted": "\(runtime.uncommittedItems)"])
        if !unsettled.isEmpty {
            for line in unsettled { printError(TerminalText.line(line)) }
            printError("switchboard: idle, but \(unsettled.count) connection(s) not read to the end (exit \(Exit.idleUnsettled.rawValue))")
            throw Exit.idleUnsettled
        }
    }
}

/// Loads a configuration and opens its runtime, or prints every problem (file:line) and exits 4.
func openRuntime(config path: String, logger: Logger) throws -> Runtime {
    do {
        let config = try ConfigLoader.load(file: path, stores: storeDrivers)
        // A running host reloads when its installed packages or plugin directory change (docs/PACKAGES.md).
        return try Runtime(config: config, stores: storeDrivers, logger: logger, reload: { () throws(ConfigError) in
            try ConfigLoader.load(file: path, stores: storeDrivers)
        })
    } catch let error as ConfigError {
        printError("configuration errors:\n" + error.problems.map { "  \($0)" }.joined(separator: "\n"))
        throw Exit.badConfig
    }
}

enum CLILogging {
    /// JSON lines on stderr (SWITCHBOARD_LOG_FORMAT=text for plain lines); level from $SWITCHBOARD_LOG_LEVEL (default info).
    static func bootstrap() -> Logger {
        let environment = ProcessInfo.processInfo.environment
        let level = environment["SWITCHBOARD_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let text = environment["SWITCHBOARD_LOG_FORMAT"] == "text"
        LoggingSystem.bootstrap { label in
            if text {
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            return JSONLogHandler(label: label, level: level)
        }
        return Logger(label: "switchboard")
    }
}
