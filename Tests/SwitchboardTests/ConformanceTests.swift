import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// `switchboard plugin test` tested on itself: a conforming plugin passes the
/// default run, and every faulty fixture is caught by the check that should
/// catch it, with exit code 1 and a JUnit report that says so.
@Suite(.serialized) struct ConformanceTests {
    struct Run {
        var status: Int32
        var report: String
        var junit: String
        /// check name -> "passed" | "failed" | "skipped", from the JUnit XML.
        var results: [String: String]
    }

    func test(_ plugin: String, _ extra: [String] = []) throws -> Run {
        let junit = TestEnv.tempDir("sbjunit") + "/report.xml"
        let result = try TestEnv.run(TestEnv.switchboard, ["plugin", "test", plugin, "--junit", junit] + extra)
        let xml = (try? String(contentsOfFile: junit, encoding: .utf8)) ?? ""
        return Run(status: result.status, report: result.stdout, junit: xml, results: try Self.parse(xml))
    }

    /// Parses the JUnit XML with a real XML parser: a malformed report fails here.
    static func parse(_ xml: String) throws -> [String: String] {
        final class Collector: NSObject, XMLParserDelegate {
            var results: [String: String] = [:]
            var current: String?
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                switch name {
                case "testcase":
                    current = attributes["name"]
                    if let current { results[current] = "passed" }
                case "failure": if let current { results[current] = "failed" }
                case "skipped": if let current { results[current] = "skipped" }
                default: break
                }
            }
        }
        let parser = XMLParser(data: Data(xml.utf8))
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse() else { throw TestEnv.FixtureError(message: "invalid JUnit XML: \(String(describing: parser.parserError))\n\(xml)") }
        return collector.results
    }

    @Test func aConformingPluginPassesTheDefaultRun() throws {
        let run = try test(try TestEnv.zoo("zoo-good"))
        #expect(run.status == 0, "\(run.report)")
        #expect(run.report.contains("the plugin conforms"))
        #expect(run.report.contains("10000 mutated inputs"), "the default run fuzzes 10,000 inputs")
        #expect(run.results.count == 15)
        // Only the HTTP error classes need a fixture, which a plugin without egress has no use for.
        #expect(run.results.filter { $0.value != "passed" } == ["errors.http_classified": "skipped"], "\(run.results)")
    }

    /// Each fixture breaks one rule; the runner names it.
    @Test(arguments: [
        ("segv", ["ZOO_SEGV"], "read.records_valid", "crashed with SIGSEGV"),
        ("abort", ["ZOO_ABORT"], "write.idempotent", "crashed with SIGABRT"),
        ("hang", ["ZOO_HANG"], "read.records_valid", "hung"),
        ("oom", ["ZOO_OOM"], "read.records_valid", "ran out of memory"),
        ("exit0", ["ZOO_EXIT0"], "read.records_valid", "exited with status 0"),
        ("stdout", ["ZOO_STDOUT"], "output.quiet", "printed"),
        ("badjson", ["ZOO_BADJSON"], "read.records_valid", "is not JSON"),
        ("oversize", ["ZOO_OVERSIZE"], "read.records_valid", "exceeds the 16 MiB limit"),
        ("abi", ["ZOO_MAJOR=99"], "load.manifest_abi", "ABI major 99"),
        ("nonidem", ["ZOO_NON_IDEMPOTENT"], "write.idempotent", "created two records"),
        ("noupdate", ["ZOO_IGNORES_EXTERNAL_ID"], "write.updates", "(its external_id given, a new key) created"),
        ("reemit", ["ZOO_REEMIT"], "read.resumes_from_state", "re-emitted"),
        ("authfatal", ["ZOO_AUTH_FATAL"], "check_connection.classifies", "HTTP 401: FATAL, expected AUTH"),
    ])
    func eachFaultyPluginIsCaught(name: String, flags: [String], check: String, text: String) throws {
        let plugin = try TestEnv.zoo("zoo-\(name)", flags)
        // Only the hang should meet the call deadline; the OOM fixture needs time to fill its (smaller) address space.
        let limits = name == "oom" ? ["--memory-mb", "640", "--call-timeout", "20000"] : ["--call-timeout", "800"]
        let run = try test(plugin, ["--fuzz", "200"] + limits)
        #expect(run.status == 1, "\(run.report)")
        #expect(run.results[check] == "failed", "\(check) should fail:\n\(run.report)")
        #expect(run.report.contains(text), "the report should say \"\(text)\":\n\(run.report)")
        #expect(run.report.contains("does NOT conform"))
    }

    /// A check that never saw its operation succeed is not a pass (issue 27): reads that all fail fail the read
    /// check and leave resuming unexercised; reads that are all empty fail it too, saying a fixture is needed.
    @Test func readChecksThatExercisedNothingDoNotPass() throws {
        let failing = try test(try TestEnv.zoo("zoo-readretry", ["ZOO_READ_RETRY"]), ["--fuzz", "200"])
        #expect(failing.status == 1 && failing.results["read.records_valid"] == "failed", "\(failing.report)")
        #expect(failing.results["read.resumes_from_state"] == "skipped", "before: passed for a build whose every read returned RETRY\n\(failing.report)")
        let empty = try test(try TestEnv.zoo("zoo-readempty", ["ZOO_READ_EMPTY"]), ["--fuzz", "200"])
        #expect(empty.status == 1 && empty.results["read.records_valid"] == "failed", "before: passed with \"0 records, all valid\"\n\(empty.report)")
        #expect(empty.results["read.resumes_from_state"] == "skipped")
        #expect(empty.report.contains("0 records read") && empty.report.contains("needs a fixture"), "\(empty.report)")
    }

    /// The plugins this repository ships pass the suite partners are asked to pass; a connector that talks
    /// HTTP against the fixture it ships (Plugins/connectors/NAME/conformance.yaml), with every target check exercised.
    /// (tryton's fixture scripts JSON-RPC: its own login with a raw secret, then every call with the session it got.)
    @Test(arguments: ["example-c", "example-swift", "sandbox", "testkit", "o2c", "bench-echo", "bottlecrm", "tryton"])
    func everyShippedPluginConforms(plugin: String) throws {
        var extra = ["--fuzz", "2000"]
        let fixture = TestEnv.repoRoot + "/Plugins/connectors/\(plugin)/conformance.yaml"
        let hasFixture = FileManager.default.fileExists(atPath: fixture)
        if hasFixture { extra += ["--fixture", fixture] }
        let run = try test(TestEnv.product("libsbplugin-\(plugin).so"), extra)
        #expect(run.status == 0, "\(run.report)")
        #expect(!run.results.values.contains("failed"), "\(run.report)")
        if hasFixture {
            for check in ["read.records_valid", "read.resumes_from_state", "write.idempotent", "write.updates", "errors.http_classified"] {
                #expect(run.results[check] == "passed", "\(plugin): \(check)\n\(run.report)")
            }
        }
    }

    @Test func aFileThatIsNotAPluginIsCaught() throws {
        let path = TestEnv.tempDir("sbnotso") + "/notes.so"
        try "not a plugin".write(toFile: path, atomically: true, encoding: .utf8)
        let run = try test(path)
        #expect(run.status == 1)
        #expect(run.results["load.manifest_abi"] == "failed")
        #expect(run.report.contains("not an ELF shared object"))
    }

    /// A crash found by fuzzing is saved, so the partner can replay it.
    @Test func aFuzzCrashIsSavedForReplay() throws {
        let artifacts = TestEnv.tempDir("sbartifacts")
        let segv = try TestEnv.zoo("zoo-segv-art", ["ZOO_SEGV"])
        let run = try test(segv, ["--fuzz", "50", "--artifacts", artifacts])
        #expect(run.results["fuzz.boundary"] == "failed")
        let saved = try FileManager.default.contentsOfDirectory(atPath: artifacts)
        #expect(!saved.isEmpty && saved.allSatisfy { $0.hasPrefix("crash-") }, "\(saved)")
    }

    @Test(.enabled(if: ValgrindBoundaryTests.available)) func leaksAreCheckedUnderValgrind() throws {
        let clean = try test(try TestEnv.zoo("zoo-clean"), ["--leaks", "--fuzz", "100"])
        #expect(clean.results["leaks.valgrind"] == "passed", "\(clean.report)")
        // The fixture whose check_connection leaks 64 bytes (config "plugin-leak").
        let leaky = try TestEnv.fixture("leaky", ["FIX_ID='\"leaky\"'"])
        let configFile = TestEnv.tempDir("sbleak") + "/config.json"
        try "\"plugin-leak\"".write(toFile: configFile, atomically: true, encoding: .utf8)
        let run = try test(leaky, ["--leaks", "--fuzz", "100", "--config", configFile])
        #expect(run.status == 1)
        #expect(run.results["leaks.valgrind"] == "failed", "\(run.report)")
        #expect(run.report.contains("definitely lost: 64 bytes"), "\(run.report)")
    }
}
