// csv-drop: the legacy batch path (file transfers, spreadsheet exports). It
// watches a folder for *.csv files, maps their columns to a canonical entity
// with a declared column mapping, and reads them as records.
//
// A file is never lost and never imported twice, also across a crash:
// - the cursor {"file", "row", "done"} moves only when the host has committed
//   the rows it covers, so a restart resumes at the last committed row (the
//   event log drops the few rows read twice);
// - a file moves to done/ only when a later read receives the state that says
//   all its rows are committed (an emit's return is not a commit, docs/ABI.md);
// - a file whose header lacks a mapped column moves to rejected/ with a
//   NAME.reason.txt beside it; rows that fail the canonical schema become
//   exception items in the host, with their field paths.
import Foundation
import SwitchboardPluginKit

final class CSVDropConnector: ConnectorPlugin {
    static let manifest = PluginManifest(
        id: "csv-drop", version: "1.0.0", kind: .connector, capabilities: [.check, .discover, .read],
        name: "CSV drop folder", description: "Imports CSV exports from a folder with a declared column mapping",
        vendor: "Switchboard")

    static let configSchema = """
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,
         "required":["folder","entity","columns"],
         "properties":{"folder":{"type":"string","minLength":1},
                       "entity":{"type":"string","minLength":1},
                       "columns":{"type":"object","description":"canonical field (dotted for nested) -> CSV column, or {column, type: string|number|integer|boolean|money:CUR}"},
                       "delimiter":{"type":"string","minLength":1,"maxLength":1},
                       "updated_at_column":{"type":"string"}}}
        """

    struct Column {
        var field: String
        var header: String
        var type: String
    }

    struct Config {
        var folder: String
        var entity: String
        var columns: [Column]
        var delimiter: UInt8
        var updatedAtColumn: String?
    }

    static func parse(_ bytes: [UInt8]) -> (Config?, [PluginDiagnostic]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return (nil, [PluginDiagnostic("config is not a JSON object")])
        }
        var problems: [PluginDiagnostic] = []
        for key in object.keys where !["folder", "entity", "columns", "delimiter", "updated_at_column"].contains(key) {
            problems.append(PluginDiagnostic("unknown field", fieldPath: key))
        }
        let folder = object["folder"] as? String
        if folder?.isEmpty ?? true { problems.append(PluginDiagnostic("required: the folder to watch", fieldPath: "folder")) }
        let entity = object["entity"] as? String
        if entity?.isEmpty ?? true { problems.append(PluginDiagnostic("required: the canonical entity of each row", fieldPath: "entity")) }
        var columns: [Column] = []
        if let mapping = object["columns"] as? [String: Any], !mapping.isEmpty {
            for (field, spec) in mapping.sorted(by: { $0.key < $1.key }) {
                if let header = spec as? String {
                    columns.append(Column(field: field, header: header, type: "string"))
                } else if let spec = spec as? [String: Any], let header = spec["column"] as? String {
                    let type = spec["type"] as? String ?? "string"
                    guard ["string", "number", "integer", "boolean"].contains(type) || type.hasPrefix("money:") && type.count == 9 else {
                        problems.append(PluginDiagnostic("type must be string, number, integer, boolean or money:CUR", fieldPath: "columns.\(field).type"))
                        continue
                    }
                    columns.append(Column(field: field, header: header, type: type))
                } else {
                    problems.append(PluginDiagnostic("must be a column name or {column, type}", fieldPath: "columns.\(field)"))
                }
            }
            if !columns.contains(where: { $0.field == "external_id" }) {
                problems.append(PluginDiagnostic("map a column to external_id (the row's id in the source)", fieldPath: "columns.external_id"))
            }
        } else {
            problems.append(PluginDiagnostic("required: canonical field -> CSV column", fieldPath: "columns"))
        }
        var delimiter = UInt8(ascii: ",")
        if let d = object["delimiter"] {
            if let text = d as? String, text.utf8.count == 1 { delimiter = text.utf8.first! } else {
                problems.append(PluginDiagnostic("must be one character", fieldPath: "delimiter"))
            }
        }
        let updatedAt = object["updated_at_column"]
        if updatedAt != nil && !(updatedAt is String) { problems.append(PluginDiagnostic("must be a string", fieldPath: "updated_at_column")) }
        guard problems.isEmpty, let folder, let entity else { return (nil, problems) }
        return (Config(folder: folder, entity: entity, columns: columns, delimiter: delimiter, updatedAtColumn: updatedAt as? String), [])
    }

    static func validate(config: [UInt8]) -> [PluginDiagnostic] { parse(config).1 }

    let config: Config

    init(config: [UInt8], host: HostCall) throws {
        let parsed = try configOrThrow(Self.parse(config))
        self.config = parsed
    }

    func checkConnection(host: HostCall) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: config.folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PluginError.config("the folder \(config.folder) does not exist", fieldPath: "folder")
        }
    }

    func discover(host: HostCall) throws -> String {
        #"{"streams":[{"name":"files","entity":"\#(config.entity)","cursor":"file-row"}],"writes":[]}"#
    }

    struct Cursor {
        var file: String?
        var row = 0
        var done = false

        var json: [UInt8] {
            let name = file.map { "\"\(CSVDropConnector.escape($0))\"" } ?? "null"
            return Array(#"{"file":\#(name),"row":\#(row),"done":\#(done)}"#.utf8)
        }
    }

    func read(_ request: ReadRequest, host: HostCall) throws {
        guard request.stream == "files" else { throw PluginError.config("unknown stream (this connector has only \"files\")", fieldPath: "stream") }
        var cursor = Cursor()
        if !request.state.isEmpty {
            guard let state = try? JSONSerialization.jsonObject(with: Data(request.state)) as? [String: Any] else {
                throw PluginError.fatal("saved cursor is not {\"file\", \"row\", \"done\"}", fieldPath: "state")
            }
            cursor = Cursor(file: state["file"] as? String, row: state["row"] as? Int ?? 0, done: state["done"] as? Bool ?? false)
        }
        let fm = FileManager.default
        let inbox = URL(fileURLWithPath: config.folder)
        // The committed state says this file is fully imported: now it may leave the inbox.
        if cursor.done, let name = cursor.file, fm.fileExists(atPath: inbox.appendingPathComponent(name).path) {
            try move(name, to: "done")
        }
        let pending = try fm.contentsOfDirectory(atPath: config.folder).filter { $0.hasSuffix(".csv") && !$0.hasPrefix(".") }.sorted()
        let name: String
        if !cursor.done, let current = cursor.file, pending.contains(current) {
            name = current
        } else if let next = pending.first {
            name = next
            cursor = Cursor(file: next)
        } else {
            return try host.emitState(stream: "files", state: Cursor(file: nil).json)   // nothing waiting
        }
        let path = inbox.appendingPathComponent(name).path
        guard let data = fm.contents(atPath: path) else { throw PluginError.retry("cannot read \(name)") }
        let rows = CSV.parse(Array(data), delimiter: config.delimiter)
        guard let header = rows.first else {
            try reject(name, because: "the file is empty (no header row)")
            return try host.emitState(stream: "files", state: Cursor(file: nil).json)
        }
        var index: [String: Int] = [:]
        for (i, title) in header.enumerated() { index[title.trimmingCharacters(in: .whitespaces)] = i }
        let missing = config.columns.map(\.header).filter { index[$0] == nil } + (config.updatedAtColumn.map { index[$0] == nil ? [$0] : [] } ?? [])
        guard missing.isEmpty else {
            try reject(name, because: "the header lacks the mapped column(s): \(missing.joined(separator: ", ")); it has: \(header.joined(separator: ", "))")
            return try host.emitState(stream: "files", state: Cursor(file: nil).json)
        }
        let modified = (try? fm.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        let fileTime = ISO8601DateFormatter().string(from: modified)
        let body = rows.dropFirst()
        var emitted = 0
        while cursor.row < body.count {
            if host.isCancelled { throw PluginError.cancelled }
            let row = body[body.startIndex + cursor.row]
            cursor.row += 1
            if row.count == 1 && row[0].isEmpty { continue }   // a blank line
            let updatedAt = config.updatedAtColumn.flatMap { index[$0] }.map { $0 < row.count ? row[$0] : "" } ?? fileTime
            try host.emitRecord(entity: config.entity, json: record(row, index: index, updatedAt: updatedAt))
            emitted += 1
            if request.maxRecords > 0 && emitted >= request.maxRecords && cursor.row < body.count {
                return try host.emitState(stream: "files", state: cursor.json)   // checkpoint; the host calls again
            }
        }
        cursor.done = true
        try host.emitState(stream: "files", state: cursor.json)
    }

    /// One row as a canonical record: values typed as declared, dotted fields nested.
    func record(_ row: [String], index: [String: Int], updatedAt: String) -> [UInt8] {
        var object: [String: Any] = ["updated_at": updatedAt]
        for column in config.columns {
            let raw = (index[column.header].map { $0 < row.count ? row[$0] : "" } ?? "").trimmingCharacters(in: .whitespaces)
            if raw.isEmpty { continue }   // absent, not "": the canonical schema says what is required
            let value: Any
            switch column.type {
            case "number": value = Double(raw) ?? raw
            case "integer": value = Int(raw) ?? raw
            case "boolean":
                let lower = raw.lowercased()
                value = ["true", "yes", "1"].contains(lower) ? true as Any : ["false", "no", "0"].contains(lower) ? false as Any : raw as Any
            case let t where t.hasPrefix("money:"): value = ["amount": raw, "currency": String(t.dropFirst(6))]
            default: value = raw
            }
            Self.set(&object, path: column.field.split(separator: ".").map(String.init), value: value)
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }

    static func set(_ object: inout [String: Any], path: [String], value: Any) {
        guard let first = path.first else { return }
        if path.count == 1 { object[first] = value; return }
        var child = object[first] as? [String: Any] ?? [:]
        set(&child, path: Array(path.dropFirst()), value: value)
        object[first] = child
    }

    func move(_ name: String, to folder: String) throws {
        let fm = FileManager.default
        let inbox = URL(fileURLWithPath: config.folder)
        let target = inbox.appendingPathComponent(folder)
        try fm.createDirectory(at: target, withIntermediateDirectories: true)
        var destination = target.appendingPathComponent(name)
        if fm.fileExists(atPath: destination.path) {   // a file of the same name imported before: keep both
            destination = target.appendingPathComponent("\(Int(Date().timeIntervalSince1970))-\(name)")
        }
        do { try fm.moveItem(at: inbox.appendingPathComponent(name), to: destination) } catch {
            throw PluginError.retry("cannot move \(name) to \(folder)/: \(error.localizedDescription)")
        }
    }

    func reject(_ name: String, because reason: String) throws {
        try move(name, to: "rejected")
        let note = URL(fileURLWithPath: config.folder).appendingPathComponent("rejected/\(name).reason.txt")
        try? Data((reason + "\n").utf8).write(to: note)
    }

    static func escape(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
}

/// RFC 4180 CSV: quoted fields may hold delimiters, quotes ("") and line breaks; CRLF or LF.
enum CSV {
    static func parse(_ bytes: [UInt8], delimiter: UInt8) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0   // a spreadsheet's byte-order mark
        func endField() {
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        while i < bytes.count {
            let c = bytes[i]
            if quoted {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\"") { field.append(c); i += 1 } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == UInt8(ascii: "\"") && field.isEmpty {
                quoted = true
            } else if c == delimiter {
                endField()
            } else if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                endField()
                rows.append(row)
                row.removeAll()
                if c == UInt8(ascii: "\r") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
            } else {
                field.append(c)
            }
            i += 1
        }
        if !field.isEmpty || !row.isEmpty { endField(); rows.append(row) }
        return rows
    }
}

@_cdecl("switchboard_plugin_manifest")
public func pluginManifest() -> UnsafeRawPointer { PluginExport.manifest(CSVDropConnector.self) }

@_cdecl("switchboard_plugin_init")
public func pluginInit(_ args: UnsafeRawPointer?, _ result: UnsafeMutableRawPointer?) -> Int32 {
    PluginExport.initialize(CSVDropConnector.self, args, result)
}
