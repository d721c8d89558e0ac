import ArgumentParser
import Foundation
import SwitchboardAdmin
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore

/// `switchboard tokens`: admin API tokens (docs/ADMIN-API.md).
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Create, list and revoke admin API tokens.", subcommands: [Create.self, List.self, Revoke.self])

    static func store(_ config: String) throws -> any FullStore {
        do {
            let loaded = try ConfigLoader.load(file: config, stores: storeDrivers)
            return try storeDrivers.open(url: loaded.store)
        } catch let error as ConfigError {
            printError("configuration errors:\n" + error.problems.map { "  \($0)" }.joined(separator: "\n"))
            throw Exit.badConfig
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it (once: only its hash is stored).")
        @Option(help: "The configuration file.") var config: String
        @Option(help: "A unique name (the actor in the audit trail).") var name: String
        @Option(help: "viewer, operator or admin.") var role: String
        @Option(help: "Limit the token to one tenant (default: every tenant, for the partner).") var tenant: String?
        @Option(help: "Who creates it (audit trail).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "cli"

        func run() throws {
            guard let parsed = AdminRole(rawValue: role) else {
                printError("--role must be viewer, operator or admin")
                throw ExitCode(64)
            }
            guard PluginDescriptor.isValidID(name) else {
                printError("--name must match [a-z0-9][a-z0-9._-]{0,63}")
                throw ExitCode(64)
            }
            let store = try TokensCommand.store(config)
            let (token, row) = AdminTokens.make(name: name, role: parsed, tenant: tenant, now: Clock.nowMillis())
            do { try store.createToken(row, actor: actor) } catch {
                printError("\(error)")
                throw Exit.failed
            }
            print(token)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens: name, role, scope, prefix (never the token).")
        @Option(help: "The configuration file.") var config: String

        func run() throws {
            for t in try TokensCommand.store(config).tokens() {
                print("\(t.name)  \(t.role)  \(t.tenant ?? "partner (all tenants)")  \(t.prefix)...  \(t.revokedAt == nil ? "active" : "revoked")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once.")
        @Option(help: "The configuration file.") var config: String
        @Argument(help: "The token's name.") var name: String
        @Option(help: "Who revokes it (audit trail).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "cli"

        func run() throws {
            guard try TokensCommand.store(config).revokeToken(name: name, actor: actor, now: Clock.nowMillis()) else {
                printError("no active token named \(name)")
                throw Exit.failed
            }
            print("revoked \(name)")
        }
    }
}
