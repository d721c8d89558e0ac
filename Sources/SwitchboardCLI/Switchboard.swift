import ArgumentParser
import SwitchboardSandbox
import SwitchboardStore
import SwitchboardStorePostgres

/// The stores this binary opens: the composition root is the one place that knows which backends exist.
let storeDrivers = StoreDrivers([SQLiteDriver(), PostgresDriver()])

/// Entry point: `switchboard __worker` is a sandbox worker (docs/SANDBOX.md),
/// anything else the command line.
@main
enum Main {
    static func main() async {
        let arguments = CommandLine.arguments
        if arguments.count > 1 && arguments[1] == SandboxWorker.mode {
            SandboxWorker.run(arguments: Array(arguments.dropFirst(2)))
        }
        SandboxSettings.registerSelfAsWorker()
        await Switchboard.main()
    }
}

/// The `switchboard` command.
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Switchboard: the integration runtime for CRM, PSA and ERP systems.",
        discussion: """
            Exit codes: 0 success; 1 an operation failed or a plugin in a directory was refused; \
            2 the plugin file was refused by the loader; 3 the plugin directory or an input file cannot be read; \
            4 the configuration is invalid (each problem is printed with file:line); 64 usage error.
            """,
        subcommands: [RunCommand.self, QuickstartCommand.self, ExceptionsCommand.self, ConnectionsCommand.self, VaultCommand.self, AuditCommand.self,
                      PluginsCommand.self, PluginCommand.self, PackageCommand.self, KeysCommand.self, TrustCommand.self, MarketCommand.self, TokensCommand.self, SchemasCommand.self,
                      BenchCommand.self]
    )
}

/// Documented exit codes (see `switchboard --help`).
enum Exit {
    static let failed = ExitCode(1)
    static let refused = ExitCode(2)
    static let unreadable = ExitCode(3)
    static let badConfig = ExitCode(4)
    /// `run --exit-when-idle` ended with a connection failing, paused or not started (5 is RuntimeService.stopTimedOutExitCode).
    static let idleUnsettled = ExitCode(6)
}
