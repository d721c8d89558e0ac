import SwitchboardCore
import ArgumentParser
import Foundation
import SwitchboardStore

/// `switchboard connections`: pause and resume connections (AUTH pauses them automatically).
struct ConnectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections", abstract: "List paused connections, pause or resume one (audited).",
        subcommands: [Paused.self, Pause.self, Resume.self])

    struct Paused: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List paused connections and why.")
        @OptionGroup var common: ExceptionsCommand.Common

        func run() throws {
            let (_, store) = try common.open()
            let paused = try store.pausedConnections()
            print("\(paused.count) paused connection(s)")
            for p in paused { print(TerminalText.line("  \(p.tenant)/\(p.connection): \(p.reason)")) }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause TENANT/CONNECTION.")
        @OptionGroup var common: ExceptionsCommand.Common
        @Argument(help: "TENANT/CONNECTION") var target: String
        @Option(help: "Why.") var reason: String = "paused from the CLI"

        func run() throws {
            let (_, store) = try common.open()
            let (tenant, connection) = try split(target)
            _ = try store.setConnectionPaused(tenant: tenant, connection: connection, paused: true, reason: reason, now: Clock.nowMillis())
            try store.audit(actor: common.who, action: "connection.pause", target: target, detail: reason, now: Clock.nowMillis())
            print("paused \(target)")
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume TENANT/CONNECTION: its parked items go back to the queue.")
        @OptionGroup var common: ExceptionsCommand.Common
        @Argument(help: "TENANT/CONNECTION") var target: String
        @Option(help: "Why.") var reason: String = "resumed from the CLI"

        func run() throws {
            let (_, store) = try common.open()
            let (tenant, connection) = try split(target)
            let unparked = try store.setConnectionPaused(tenant: tenant, connection: connection, paused: false, reason: reason, now: Clock.nowMillis())
            try store.audit(actor: common.who, action: "connection.resume", target: target, detail: "\(reason); \(unparked) parked item(s) requeued",
                            now: Clock.nowMillis())
            print("resumed \(target); \(unparked) parked item(s) back in the queue")
        }
    }
}

func split(_ target: String) throws -> (String, String) {
    let parts = target.split(separator: "/")
    guard parts.count == 2 else {
        printError("expected TENANT/CONNECTION, got \(target)")
        throw ExitCode.validationFailure
    }
    return (String(parts[0]), String(parts[1]))
}
