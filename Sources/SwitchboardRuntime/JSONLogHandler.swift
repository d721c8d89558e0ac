import Foundation
import Logging
import SwitchboardCore

/// swift-log backend writing one JSON object per line: time, level, label,
/// message and every metadata field (tenant, connection, plugin, workflow,
/// trace, ...). Every string passes through the Redactor first, so a secret
/// never reaches a log line even if a plugin tries to log it.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level = .info, write: @escaping @Sendable (String) -> Void = JSONLogHandler.stderr) {
        self.label = label
        logLevel = level
        self.write = write
    }

    public static let stderr: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data(line.utf8)) }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var members: [(String, JSON)] = [
            ("ts", .string(Self.timestamp())), ("level", .string(event.level.rawValue)), ("label", .string(label)),
            ("msg", .string(Redactor.redact("\(event.message)"))),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            members.append((key, .string(Redactor.redact("\(value)"))))
        }
        write(JSON.object(members).text + "\n")
    }

    static func timestamp() -> String { Clock.iso8601(unixMillis: Clock.nowMillis(), fractionalSeconds: true) }
}
