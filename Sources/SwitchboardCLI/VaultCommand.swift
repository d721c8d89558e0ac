import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore
import SwitchboardVault

/// `switchboard vault`: secrets encrypted at rest, scoped to tenant and connection.
struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Set, list, delete and rotate secrets (values come from stdin, never from the command line).",
        discussion: "The master key comes from SWITCHBOARD_MASTER_KEY or SWITCHBOARD_MASTER_KEY_FILE (a file only its owner can read).",
        subcommands: [Set.self, List.self, Delete.self, Rotate.self, Keygen.self])

    static func open(_ common: ExceptionsCommand.Common) throws -> (any FullStore, Vault) {
        let (_, store) = try common.open()
        do {
            let vault = Vault(store: store, masterKey: try MasterKey.fromEnvironment())
            try vault.verify()
            return (store, vault)
        } catch let error as VaultError {
            printError(error.description)
            throw Exit.failed
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a secret read from stdin (one trailing newline is dropped).")
        @OptionGroup var common: ExceptionsCommand.Common
        @Argument(help: "TENANT/CONNECTION") var target: String
        @Argument(help: "The secret's name (what the config's vault:NAME refers to).") var name: String
        @Option(help: ArgumentHelp("Keep the value this replaces readable as NAME.previous for this long (e.g. 24h): a rotation's overlap window, in which both are accepted (docs/HOST-SERVICES.md).",
                                   valueName: "DURATION"))
        var keepPrevious: String?

        func run() throws {
            let (tenant, connection) = try split(target)
            let overlap = try keepPrevious.map { text -> Int64 in
                guard let millis = DurationText.millis(text), millis > 0 else {
                    printError("--keep-previous \(text): not a duration (use 30m, 24h, ...)")
                    throw ExitCode.validationFailure
                }
                return millis
            }
            let (_, vault) = try VaultCommand.open(common)
            var value = Array(FileHandle.standardInput.readDataToEndOfFile())
            if value.last == 0x0A { value.removeLast() }
            if value.last == 0x0D { value.removeLast() }
            guard !value.isEmpty else {
                printError("no value on stdin (pipe it in: printf %s \"$SECRET\" | switchboard vault set ...)")
                throw Exit.failed
            }
            try vault.set(tenant: tenant, connection: connection, name: name, value: value, actor: common.who, keepPreviousFor: overlap)
            print("stored \(tenant)/\(connection)/\(name) (\(value.count) bytes, encrypted under key \(vault.masterKeyID))"
                  + (overlap.map { " ; the value it replaced stays valid as \(name)\(Vault.previousSuffix) for \($0 / 1000) s" } ?? ""))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secret names and metadata (never values).")
        @OptionGroup var common: ExceptionsCommand.Common
        @Option(help: "Only this tenant.") var tenant: String?

        func run() throws {
            let (_, vault) = try VaultCommand.open(common)
            let entries = try vault.list(tenant: tenant)
            print("\(entries.count) secret(s)")
            for e in entries {
                let expiry = e.expiresAt.map { ($0 <= Clock.nowMillis() ? "  expired " : "  expires ") + "\(Date(timeIntervalSince1970: Double($0) / 1000))" } ?? ""
                print("  \(e.tenant)/\(e.connection)/\(e.name)  data key \(e.keyID)  updated \(Date(timeIntervalSince1970: Double(e.updatedAt) / 1000))\(expiry)")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a secret.")
        @OptionGroup var common: ExceptionsCommand.Common
        @Argument(help: "TENANT/CONNECTION") var target: String
        @Argument(help: "The secret's name.") var name: String

        func run() throws {
            let (tenant, connection) = try split(target)
            let (_, vault) = try VaultCommand.open(common)
            guard try vault.delete(tenant: tenant, connection: connection, name: name, actor: common.who) else {
                printError("no secret \(tenant)/\(connection)/\(name)")
                throw Exit.failed
            }
            print("deleted \(tenant)/\(connection)/\(name)")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrap every data key under a new master key (safe while hosts run); then retire the old key.")
        @OptionGroup var common: ExceptionsCommand.Common
        @Option(help: "File holding the new master key (owner-only permissions).") var newKeyFile: String

        func run() throws {
            let (_, vault) = try VaultCommand.open(common)
            let rotation: Vault.Rotation
            do {
                rotation = try vault.rotate(to: try MasterKey.load(file: newKeyFile), actor: common.who)
            } catch let error as VaultError {
                printError(error.description)
                throw Exit.failed
            }
            print(String(format: "rotated %d data key(s) covering %d secret(s) from key %@ to %@ in %.1f ms",
                         rotation.dataKeys, rotation.secrets, rotation.oldKeyID, rotation.newKeyID, rotation.milliseconds))
            print("Point SWITCHBOARD_MASTER_KEY or SWITCHBOARD_MASTER_KEY_FILE at the new key; hosts using a key file pick it up themselves.")
        }
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new random master key (base64). Store it with: ... > key && chmod 600 key")
        func run() throws { print(MasterKey.generate()) }
    }
}
