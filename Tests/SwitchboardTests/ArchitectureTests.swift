import Foundation
import Testing

/// The module graph as declared (Package.swift), as used (each module's `import`s) and as documented (the
/// README's table) are one graph: a module that imports what it does not declare, declares what it does not
/// use, or a table row that says otherwise fails here.
@Suite struct ArchitectureTests {
    /// Local targets: Sources/ modules and the C modules beside them.
    static func isLocal(_ name: String) -> Bool { name.hasPrefix("Switchboard") || name == "CSQLite" || name == "CSandbox" }

    /// The local dependencies Package.swift declares for `target`: the quoted names in its `dependencies: [...]`.
    static func declared(_ target: String, in manifest: String) throws -> Set<String> {
        guard let name = manifest.range(of: "name: \"\(target)\"") else { return [] }
        // Within this target's own declaration: up to the next one.
        let next = ["\n        .target(", "\n        .executableTarget(", "\n        .systemLibrary(", "\n        .testTarget("]
            .compactMap { manifest.range(of: $0, range: name.upperBound..<manifest.endIndex)?.lowerBound }.min() ?? manifest.endIndex
        guard let list = manifest.range(of: "dependencies: [", range: name.upperBound..<next) else { return [] }
        // The list ends at its matching bracket (products nest their own brackets).
        var depth = 1, end = list.upperBound
        while depth > 0, end < manifest.endIndex {
            if manifest[end] == "[" { depth += 1 } else if manifest[end] == "]" { depth -= 1 }
            end = manifest.index(after: end)
        }
        // Products of other packages out first: their names are not this package's targets.
        let body = String(manifest[list.upperBound..<end]).replacing(try Regex(#"\.product\([^)]*\)"#), with: "")
        let quoted = try Regex(#""([A-Za-z]+)""#)
        return Set(body.matches(of: quoted).compactMap { $0.output[1].substring.map(String.init) }.filter(isLocal))
    }

    /// The local modules the Swift files of `directory` import.
    static func imported(in directory: String) throws -> Set<String> {
        var found = Set<String>()
        let importLine = try Regex(#"(?m)^(?:@testable |@_implementationOnly |public |package )?import ([A-Za-z]+)"#)
        for case let file as String in FileManager.default.enumerator(atPath: directory)! where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for match in text.matches(of: importLine) { if let m = match.output[1].substring, isLocal(String(m)) { found.insert(String(m)) } }
        }
        return found
    }

    @Test func importsPackageAndReadmeAgree() throws {
        let manifest = try String(contentsOfFile: TestEnv.repoRoot + "/Package.swift", encoding: .utf8)
        let readme = try String(contentsOfFile: TestEnv.repoRoot + "/README.md", encoding: .utf8)
        let row = try Regex(#"(?m)^\| `(Switchboard[A-Za-z]+)` \| (.+) \|$"#)
        var documented: [String: Set<String>] = [:]
        for match in readme.matches(of: row) {
            guard let module = match.output[1].substring, let deps = match.output[2].substring else { continue }
            documented[String(module)] = Set(deps.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `—")) }.filter { !$0.isEmpty })
        }
        let modules = try FileManager.default.contentsOfDirectory(atPath: TestEnv.repoRoot + "/Sources").filter { $0.hasPrefix("Switchboard") }
        #expect(modules.count >= 12)
        for module in modules.sorted() {
            let uses = try Self.imported(in: TestEnv.repoRoot + "/Sources/" + module)
            let declares = try Self.declared(module, in: manifest)
            #expect(uses == declares, "\(module): imports \(uses.sorted()) but Package.swift declares \(declares.sorted())")
            #expect(documented[module] == declares, "\(module): README's table says \(documented[module]?.sorted() ?? []), Package.swift \(declares.sorted())")
        }
        // One way: no module reaches itself (SwiftPM refuses a cycle too; this names it).
        func reach(_ from: String, _ seen: inout Set<String>) throws {
            for next in try Self.declared(from, in: manifest) where seen.insert(next).inserted { try reach(next, &seen) }
        }
        for module in modules {
            var seen = Set<String>()
            try reach(module, &seen)
            #expect(!seen.contains(module), "\(module) depends on itself through \(seen.sorted())")
        }
        // The runtime sees the store protocol, never a backend; the admin server sees plugins through PluginHandle.
        #expect(!(try Self.imported(in: TestEnv.repoRoot + "/Sources/SwitchboardRuntime")).contains("SwitchboardStorePostgres"))
        #expect(!(try Self.imported(in: TestEnv.repoRoot + "/Sources/SwitchboardAdmin")).contains("SwitchboardSandbox"))
    }
}
