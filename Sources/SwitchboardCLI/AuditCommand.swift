import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore

/// `switchboard audit`: read and verify the hash-chained audit trail.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show or verify the audit trail.", subcommands: [Verify.self, Log.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the chain: exit 1 if any row was edited, inserted or deleted.")
        @OptionGroup var common: ExceptionsCommand.Common

        func run() throws {
            let (_, store) = try common.open()
            let report = try store.verifyAudit()
            if report.ok {
                print("audit trail intact: \(report.rows) row(s)")
            } else {
                print("audit trail BROKEN (\(report.rows) row(s)):")
                for problem in report.problems { print("  \(problem)") }
                throw Exit.failed
            }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the latest audit rows.")
        @OptionGroup var common: ExceptionsCommand.Common
        @Option(help: "How many rows.") var limit = 50

        func run() throws {
            let (_, store) = try common.open()
            for entry in try store.auditEntries(limit: limit) {
                print(TerminalText.line("\(entry.seq)  \(entry.at)  \(entry.actor)  \(entry.action)  \(entry.target)  \(entry.detail)"))
            }
        }
    }
}

/// `switchboard schemas export DIR`: the canonical model as JSON Schema files.
struct SchemasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schemas", abstract: "The canonical model: its JSON Schemas and its documentation.", subcommands: [Export.self, Docs.self])

    /// `switchboard schemas docs [FILE]`: docs/CANONICAL.md, generated from the model.
    struct Docs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print (or write to FILE) the canonical model as Markdown: every entity and event, its fields, what is required, an example.")
        @Argument(help: "Write here instead of printing (docs/CANONICAL.md in this repository).") var file: String?

        func run() throws {
            let text = CanonicalDocs.markdown()
            if let file { try text.write(toFile: file, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write every entity and event schema into a directory.")
        @Argument(help: "Target directory (PluginSDK/schemas/v1 in this repository).") var directory: String

        func run() throws {
            for (name, text) in CanonicalSchemaExport.files() {
                let path = directory + "/" + name
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            print("wrote \(CanonicalSchemaExport.files().count) schemas to \(directory)")
        }
    }
}
