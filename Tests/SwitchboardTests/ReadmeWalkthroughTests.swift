import Foundation
import Testing

/// The README's "first connector in C" works when followed word for word:
/// the test takes the code and the commands out of README.md itself.
@Suite struct ReadmeWalkthroughTests {
    /// The fenced block that follows `<!-- walkthrough:NAME -->`.
    static func block(_ name: String, in text: String) throws -> String {
        let marker = try #require(text.range(of: "<!-- walkthrough:\(name) -->"))
        let rest = text[marker.upperBound...]
        let open = try #require(rest.range(of: "```"))
        let bodyStart = try #require(rest[open.upperBound...].firstIndex(of: "\n"))
        let close = try #require(rest[bodyStart...].range(of: "\n```"))
        return String(rest[rest.index(after: bodyStart)..<close.lowerBound]) + "\n"
    }

    @Test func firstConnectorInC() throws {
        let readme = try String(contentsOfFile: TestEnv.repoRoot + "/README.md", encoding: .utf8)
        let source = try Self.block("hello.c", in: readme)
        let commands = try Self.block("commands", in: readme)
        // Work in a scratch copy of the layout the README assumes (repo root).
        let dir = TestEnv.tempDir("walkthrough")
        try FileManager.default.createSymbolicLink(atPath: dir + "/PluginSDK", withDestinationPath: TestEnv.repoRoot + "/PluginSDK")
        try source.write(toFile: dir + "/hello.c", atomically: true, encoding: .utf8)
        // The README puts the quickstart's release build on PATH; the test uses the build under test.
        let script = "set -e\n" + commands.replacingOccurrences(
            of: #"export PATH="$PWD/.build/release:$PATH""#, with: "export PATH=\"\(TestEnv.productsDir):$PATH\"")
        let result = try TestEnv.shell(script, in: dir)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("Hello connector (hello 0.1.0)"))
        #expect(result.stdout.contains(#"read accounts    OK  1 records, state {"done":true}"#))
        // The quoted closing line of the README matches what smoke printed.
        #expect(readme.contains(#"read accounts    OK  1 records, state {"done":true}"#))
    }

    /// The README's "Packages" walkthrough: a partner packages, signs and publishes a connector; the operator
    /// trusts it, adds the repository, installs it for a tenant and runs it, word for word.
    @Test func packagesSignPublishInstall() throws {
        let readme = try String(contentsOfFile: TestEnv.repoRoot + "/README.md", encoding: .utf8)
        let commands = try Self.block("market", in: readme)
        // The repository root the README assumes, with this build's products as .build/debug.
        let dir = TestEnv.tempDir("walkthrough-market")
        try FileManager.default.createDirectory(atPath: dir + "/.build", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/.build/debug", withDestinationPath: TestEnv.productsDir)
        let result = try TestEnv.shell("set -e\n" + commands, in: dir)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("northwind.csv-import  1.0.0  connector  northwind  northwind  Customer lists from CSV exports"), "\(result.stdout)")
        #expect(result.stdout.contains("installed: northwind.csv-import 1.0.0 for tenant acme"), "\(result.stdout)")
        #expect(result.stdout.contains("acme  northwind.csv-import  1.0.0  connector  signed by"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("customers.csv\n"), "\(result.stdout)")
    }
}
