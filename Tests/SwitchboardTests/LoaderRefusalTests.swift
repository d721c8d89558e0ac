import Foundation
import SwitchboardABI
import SwitchboardHost
import Testing

/// Every way a file can fail to be a plugin gets its own clear refusal, and
/// none of them crashes the host.
@Suite struct LoaderRefusalTests {
    func refusal(_ path: String) -> PluginLoadError? {
        do {
            _ = try PluginLibrary.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func textFileIsNotELF() throws {
        let path = TestEnv.tempDir() + "/notes.so"
        try "just some text".write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(refusal(path))
        #expect(error.code == "not-elf")
        #expect(error.description.contains("not an ELF shared object"))
        #expect(error.description.contains(path))
    }

    @Test func executableIsNotASharedObject() throws {
        let error = try #require(refusal("/bin/true"))
        #expect(error.code == "not-elf")
        #expect(error.description.contains("executable, not a shared object"))
    }

    @Test func truncatedFile() throws {
        let dir = TestEnv.tempDir()
        let good = try TestEnv.fixture("whole", in: dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let cut = dir + "/cut.so"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        let error = try #require(refusal(cut))
        #expect(error.code == "truncated")
        #expect(error.description.contains("truncated file"))
        // A header cut short is also called truncated, not "not ELF".
        try data.prefix(20).write(to: URL(fileURLWithPath: cut))
        #expect(refusal(cut)?.code == "truncated")
    }

    @Test func missingFile() throws {
        let error = try #require(refusal("/nonexistent/plugin.so"))
        #expect(error.code == "unreadable")
    }

    @Test func sharedLibraryWithoutEntryPoints() throws {
        let error = try #require(refusal(try TestEnv.fixture("plain", ["FIX_NO_SYMBOLS"])))
        #expect(error.code == "missing-symbol")
        #expect(error.description.contains("switchboard_plugin_manifest"))
    }

    @Test func missingInitSymbol() throws {
        let error = try #require(refusal(try TestEnv.fixture("noinit", ["FIX_NO_INIT", "FIX_ID='\"noinit\"'"])))
        #expect(error.code == "missing-symbol")
        #expect(error.description.contains("switchboard_plugin_init"))
    }

    @Test func wrongABIMajor() throws {
        let error = try #require(refusal(try TestEnv.fixture("major2", ["FIX_MAJOR=2"])))
        #expect(error.reason == .wrongABIMajor(plugin: 2, host: 1))
        #expect(error.description.contains("built for plugin ABI major 2, this host speaks ABI major 1"))
    }

    /// A struct_size past anything readable is refused without reading by it (it crashed the loader).
    @Test func aManifestThatClaimsAHugeSizeIsRefusedWithoutReadingPastIt() throws {
        for size in ["1073741824", "(sizeof(sb_manifest) + 8192)"] {
            let path = try TestEnv.fixture("huge", ["FIX_MANIFEST_SIZE='\(size)'"])
            let error = try #require(refusal(path))
            #expect(error.code == "invalid-manifest")
            #expect(error.description.contains("struct_size") && error.description.contains("larger than any ABI 1 sb_manifest"), "\(error)")
        }
        // And through the CLI, in the sandbox probe: a refusal, not a crash.
        let inspect = try TestEnv.run(TestEnv.switchboard, ["plugins", "inspect", try TestEnv.fixture("huge", ["FIX_MANIFEST_SIZE=1073741824"])])
        #expect(inspect.stderr.contains("larger than any ABI 1 sb_manifest") || inspect.stdout.contains("larger than any ABI 1 sb_manifest"),
                "\(inspect.stdout)\(inspect.stderr)")
    }

    @Test func newerMinorWithNonZeroTailIsRefused() throws {
        let error = try #require(refusal(try TestEnv.fixture("tail", ["FIX_MINOR=3", "FIX_TAIL=9"])))
        #expect(error.code == "abi-unknown-fields")
        #expect(error.description.contains("sb_manifest from ABI 1.3 sets fields this host (ABI 1.\(SB_ABI_MINOR)) does not know"))
    }

    @Test func newerMinorWithZeroTailIsAcceptedAndNegotiatedDown() throws {
        let plugin = try PluginLibrary.load(path: try TestEnv.fixture("tailzero", ["FIX_MINOR=3", "FIX_TAIL=0", "FIX_ID='\"tailzero\"'"]))
        #expect(plugin.descriptor.abiMinor == 3)
        #expect(plugin.negotiatedMinor == Int(SB_ABI_MINOR))
    }

    /// ABI 1.1 added `fetch`: a plugin built for 1.0 loads and negotiates 1.0; it cannot claim the 1.1 capability bit;
    /// a 1.1 plugin that declares fetch must set the slot.
    @Test func theFetchCapabilityIsAMinorOneAddition() throws {
        let old = try PluginLibrary.load(path: try TestEnv.fixture("minor0", ["FIX_MINOR=0", "FIX_ID='\"minorzero\"'"]))
        #expect(old.negotiatedMinor == 0 && !old.descriptor.capabilities.contains("fetch"))
        let claims = try #require(refusal(try TestEnv.fixture("minor0fetch", ["FIX_MINOR=0", "FIX_CAPS=0x101", "FIX_ID='\"minorzerofetch\"'"])))
        #expect(claims.reason == .invalidManifest(field: "capabilities", problem: "unknown bits 0x100 (not in ABI 1.0)"), "\(claims)")
        let unset = try #require(refusal(try TestEnv.fixture("nullfetch", ["FIX_CAPS=0x101", "FIX_ID='\"nullfetch\"'"])))
        #expect(unset.reason == .invalidVTable(field: "fetch", problem: "the manifest declares this capability but the slot is NULL"))
    }

    @Test func initThatLiesAboutTheNegotiatedMinor() throws {
        let error = try #require(refusal(try TestEnv.fixture("liar", ["FIX_BAD_NEGOTIATION", "FIX_ID='\"liar\"'"])))
        #expect(error.code == "init-failed")
        #expect(error.description.contains("negotiated ABI minor \(Int(SB_ABI_MINOR) + 5)"))
    }

    @Test(arguments: [
        (["FIX_ID='\"Bad Id\"'"], "id", "must match"),
        (["FIX_ID='\"\"'"], "id", "missing"),
        (["FIX_VERSION='\"1.0\"'"], "version", "not a semantic version"),
        (["FIX_VERSION='\"01.0.0\"'"], "version", "not a semantic version"),
        (["FIX_KIND=7"], "kind", "neither SB_KIND_CONNECTOR"),
        (["FIX_CAPS=0x200"], "capabilities", "unknown bits 0x200"),
        (["FIX_KIND=SB_KIND_WORKFLOW", "FIX_CAPS=0"], "capabilities", "must declare SB_CAP_ON_EVENT"),
        (["FIX_CAPS=SB_CAP_ON_EVENT"], "capabilities", "for workflow plugins"),
    ])
    func invalidManifestFields(defines: [String], field: String, problem: String) throws {
        let error = try #require(refusal(try TestEnv.fixture("badmanifest", defines)))
        guard case .invalidManifest(let got, let message) = error.reason else {
            Issue.record("expected invalid-manifest, got \(error)")
            return
        }
        #expect(got == field)
        #expect(message.contains(problem), "\(message)")
        #expect(error.description.hasPrefix(error.path + ": invalid manifest: \(field): "))
    }

    @Test func initFailureCarriesThePluginsDiagnostic() throws {
        let error = try #require(refusal(try TestEnv.fixture("initfail", ["FIX_INIT_FAIL", "FIX_ID='\"initfail\"'"])))
        #expect(error.code == "init-failed")
        #expect(error.description.contains("CONFIG"))
        #expect(error.description.contains("licence: licence file not found"))
    }

    @Test func nullMandatorySlot() throws {
        let error = try #require(refusal(try TestEnv.fixture("nullopen", ["FIX_NULL_OPEN", "FIX_ID='\"nullopen\"'"])))
        #expect(error.reason == .invalidVTable(field: "open", problem: "mandatory slot is NULL"))
    }

    @Test func declaredCapabilityWithNullSlot() throws {
        let error = try #require(refusal(try TestEnv.fixture("nullcheck", ["FIX_NULL_CHECK", "FIX_ID='\"nullcheck\"'"])))
        #expect(error.reason == .invalidVTable(field: "check_connection", problem: "the manifest declares this capability but the slot is NULL"))
    }

    /// A directory with good plugins, a duplicate id and junk: the good ones
    /// load, each bad file is refused with its own reason.
    @Test func directoryDiscoveryWithDuplicatesAndJunk() throws {
        let dir = TestEnv.tempDir()
        _ = try TestEnv.fixture("a-first", ["FIX_ID='\"dup-id\"'"], in: dir)
        _ = try TestEnv.fixture("b-second", ["FIX_ID='\"dup-id\"'"], in: dir)
        _ = try TestEnv.fixture("c-other", ["FIX_ID='\"other-id\"'"], in: dir)
        try "junk".write(toFile: dir + "/d-junk.so", atomically: true, encoding: .utf8)
        try "ignored, not .so".write(toFile: dir + "/README.txt", atomically: true, encoding: .utf8)
        let catalog = try PluginCatalog.discover(directory: dir)
        #expect(catalog.plugins.map(\.descriptor.id) == ["dup-id", "other-id"])
        #expect(catalog.refused.map(\.code) == ["duplicate-id", "not-elf"])
        let duplicate = try #require(catalog.refused.first)
        #expect(duplicate.description.contains("duplicate plugin id \"dup-id\", already provided by \(dir)/a-first.so"))
    }

    @Test func unreadableDirectory() {
        #expect(throws: PluginDirectoryError.self) { try PluginCatalog.discover(directory: "/nonexistent-dir") }
    }
}
