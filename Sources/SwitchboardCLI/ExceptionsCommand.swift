import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore

/// `switchboard exceptions`: work through the exception queue.
struct ExceptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exceptions",
        abstract: "List, inspect, retry, discard and assign exception items (every action is audited).",
        subcommands: [List.self, Show.self, Retry.self, Discard.self, Assign.self])

    struct Common: ParsableArguments {
        @Option(help: "The configuration file (YAML).")
        var config: String

        @Option(help: "Who acts (default: $USER).")
        var actor: String?

        var who: String { actor ?? ProcessInfo.processInfo.environment["USER"] ?? "cli" }

        func open() throws -> (SwitchboardConfig, any FullStore) {
            do {
                let loaded = try ConfigLoader.load(file: config, stores: storeDrivers)
                return (loaded, try storeDrivers.open(url: loaded.store))
            } catch let error as ConfigError {
                printError("configuration errors:\n" + error.problems.map { "  \($0)" }.joined(separator: "\n"))
                throw Exit.badConfig
            }
        }
    }

    struct Filters: ParsableArguments {
        @Option(help: "Only this tenant.") var tenant: String?
        @Option(help: "Only this reason (schema_invalid, fatal, config, max_attempts, max_age, mapping_invalid, ...).") var reason: String?
        @Option(help: "open (default), retried, discarded, superseded (resolved by a newer event of the same record that went through), or all.") var status: String = "open"
        @Option(help: "Only this workflow.") var workflow: String?
        @Option(help: "Only this connection.") var connection: String?
        @Option(help: "Only items assigned to this person.") var assignee: String?

        var filter: ExceptionFilter {
            ExceptionFilter(tenant: tenant, reason: reason, status: status == "all" ? nil : status, workflow: workflow,
                            connection: connection, assignee: assignee)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List exception items with their business impact.")
        @OptionGroup var common: Common
        @OptionGroup var filters: Filters
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let (_, store) = try common.open()
            let items = try store.exceptions(filters.filter)
            if json {
                print(ExceptionReport.json(items))
                return
            }
            print("\(items.count) exception item(s)")
            for item in items {
                let money = item.amount.map { "\($0) \(item.currency ?? "")" } ?? "-"
                // Ids, amounts and diagnostics come from outside systems and plugins: printed inert.
                print(TerminalText.line("  #\(item.id)  \(item.tenant)  \(item.reason)  \(item.eventType) \(item.externalID)  blocks \(money)  "
                      + "attempts \(item.attempts)  \(item.assignee.map { "assigned to \($0)" } ?? "unassigned")  "
                      + (item.diagnostics.first?.description ?? "")))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one exception item in full.")
        @OptionGroup var common: Common
        @Argument(help: "Exception item id") var id: Int64

        func run() throws {
            let (_, store) = try common.open()
            guard let item = try store.exception(id: id) else {
                printError("no exception item \(id)")
                throw Exit.failed
            }
            print(ExceptionReport.json([item]))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay items: re-read from their source, else back to the queue (or re-validated, for rejected records).",
            discussion: """
                A failed transaction's record is read again from its source first when the source connection can (its plugin \
                declares fetch): a record fixed at its source fixes the item, and the item is resolved as superseded by the \
                newer version. If the source holds what the item already has, or cannot be read now, the stored event is \
                replayed. --refetch insists on the re-read (an item whose source cannot be read stays open); --no-refetch \
                replays the stored event as it was received.
                """)
        @OptionGroup var common: Common
        @OptionGroup var filters: Filters
        @Argument(help: "Item ids; with none, every item matching the filters (bulk replay).") var ids: [Int64] = []
        // Not --reason: that is the filter by exception reason (Filters).
        @Option(name: .customLong("note"), help: "Why (recorded in the audit trail).") var note: String = "replayed from the CLI"
        @Flag(help: "Always re-read the record from its source; an item whose source cannot be read stays open.") var refetch = false
        @Flag(help: "Replay the stored event as received, without reading the source.") var noRefetch = false

        func run() throws {
            guard !(refetch && noRefetch) else {
                printError("--refetch and --no-refetch contradict each other")
                throw ExitCode.validationFailure
            }
            let mode: ExceptionService.Reread = refetch ? .always : noRefetch ? .never : .auto
            let (config, store) = try common.open()
            let targets = ids.isEmpty ? try store.exceptions(filters.filter).map(\.id) : ids
            let connections = mode == .never || targets.isEmpty ? nil : try openConnections(config, store, required: mode == .always)
            defer { connections?.close() }
            let report = try ExceptionService(store: store, config: config, connections: connections)
                .retry(ids: targets, actor: common.who, reason: note, reread: mode)
            print("retried \(report.retried.count) item(s)\(report.retried.isEmpty ? "" : ": " + report.retried.map { "#\($0)" }.joined(separator: ", "))")
            for (id, what) in report.reread.sorted(by: { $0.key < $1.key }) { print("  #\(id) \(TerminalText.line(what))") }
            for (id, problems) in report.stillFailing {
                print(TerminalText.line("  #\(id) still fails: " + problems.map(\.description).joined(separator: "; ")))
            }
            if !report.stillFailing.isEmpty { throw Exit.failed }
        }

        /// The configuration's connections, opened to re-read sources (plugins, sandbox workers, the vault if a key is set).
        func openConnections(_ config: SwitchboardConfig, _ store: any FullStore, required: Bool) throws -> ConnectionRegistry? {
            var logger = Logger(label: "switchboard.retry", factory: { StreamLogHandler.standardError(label: $0) })
            logger.logLevel = .error
            do {
                return try ConnectionRegistry(config: config, store: store, vault: try Runtime.openVault(store: store), logger: logger)
            } catch {
                let problem = (error as? ConfigError).map { $0.problems.map(\.description).joined(separator: "; ") } ?? "\(error)"
                if required {
                    printError("cannot open the connections to re-read sources: \(problem)")
                    throw Exit.failed
                }
                printError("not re-reading sources (the connections did not open: \(problem)); replaying stored events")
                return nil
            }
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close an item without replaying it.")
        @OptionGroup var common: Common
        @Argument(help: "Exception item id") var id: Int64
        @Option(help: "Why (required; recorded in the audit trail).") var reason: String

        func run() throws {
            let (_, store) = try common.open()
            let item = try store.discardException(id: id, actor: common.who, reason: reason, now: Clock.nowMillis())
            print(TerminalText.line("discarded #\(item.id) (\(item.reason), \(item.eventType) \(item.externalID))"))
        }
    }

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an item an owner.")
        @OptionGroup var common: Common
        @Argument(help: "Exception item id") var id: Int64
        @Option(help: "Who owns it now.") var to: String

        func run() throws {
            let (_, store) = try common.open()
            let item = try store.assignException(id: id, to: to, actor: common.who, now: Clock.nowMillis())
            print("assigned #\(item.id) to \(to)")
        }
    }
}

enum ExceptionReport {
    static func json(_ items: [ExceptionItem]) -> String {
        let array: [JSON] = items.map { item in
            var members: [(String, JSON)] = [
                ("id", .number(String(item.id))), ("tenant", .string(item.tenant)), ("reason", .string(item.reason)),
                ("status", .string(item.status)), ("event_type", .string(item.eventType)), ("external_id", .string(item.externalID)),
                ("attempts", .number(String(item.attempts))),
                ("diagnostics", .array(item.diagnostics.map { d in
                    .object([("summary", .string(d.summary)), ("detail", .string(d.detail)), ("field_path", .string(d.fieldPath))])
                })),
            ]
            if let v = item.workflow { members.append(("workflow", .string(v))) }
            if let v = item.connection { members.append(("connection", .string(v))) }
            if let v = item.assignee { members.append(("assignee", .string(v))) }
            if let a = item.amount, let c = item.currency {
                members.append(("impact", .object([("amount", .string(a)), ("currency", .string(c))])))
            }
            if let v = item.firstTriedAt { members.append(("first_tried_at", .number(String(v)))) }
            if let v = item.lastTriedAt { members.append(("last_tried_at", .number(String(v)))) }
            if let v = item.resolvedBy { members.append(("resolved_by", .string(v))) }
            if let v = item.resolution { members.append(("resolution", .string(v))) }
            return .object(members)
        }
        return CanonicalSchemaExport.pretty(.array(array))
    }
}
