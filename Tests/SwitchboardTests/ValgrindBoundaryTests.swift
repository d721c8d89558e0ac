import Foundation
import Testing

/// The whole boundary (load, init, spec, validate, open, every operation,
/// host buffers, close) run under valgrind: no invalid access, no bad free,
/// no definite leak on either side. The Swift runtime's own metadata noise is
/// suppressed by PluginSDK/valgrind/swift-runtime.supp; nothing else is.
@Suite(.serialized) struct ValgrindBoundaryTests {
    static let available = FileManager.default.isExecutableFile(atPath: "/usr/bin/valgrind")

    func underValgrind(_ plugin: String, config: String) throws -> TestEnv.Result {
        try TestEnv.run("/usr/bin/valgrind", [
            "--suppressions=\(TestEnv.repoRoot)/PluginSDK/valgrind/swift-runtime.supp",
            "--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
            TestEnv.product("switchboard-plugin-smoke"), plugin, config,
        ], environment: ["SWIFT_BACKTRACE": "enable=no"])
    }

    func expectClean(_ result: TestEnv.Result) {
        #expect(result.status == 0, "valgrind exit \(result.status):\n\(result.stderr.suffix(3000))")
        #expect(result.stderr.contains("ERROR SUMMARY: 0 errors"))
    }

    @Test(.enabled(if: available)) func cConnectorIsClean() throws {
        expectClean(try underValgrind(TestEnv.product("libsbplugin-example-c.so"), config: #"{"accounts": 5}"#))
    }

    @Test(.enabled(if: available)) func swiftConnectorIsClean() throws {
        expectClean(try underValgrind(TestEnv.product("libsbplugin-example-swift.so"),
                                      config: #"{"contacts": 5, "domain": "example.com", "webhook_token": "tok-12345"}"#))
    }

    /// Host buffers released by the plugin, and ones it forgot (the host frees those).
    @Test(.enabled(if: available)) func hostBuffersAreClean() throws {
        let plugin = try TestEnv.fixture("vg", ["FIX_ID='\"vg\"'"])
        expectClean(try underValgrind(plugin, config: "state"))
        expectClean(try underValgrind(plugin, config: "unreleased"))
    }

    /// The check can fail: a plugin that leaks is caught.
    @Test(.enabled(if: available)) func aLeakIsCaught() throws {
        let result = try underValgrind(try TestEnv.fixture("vgleak", ["FIX_ID='\"vgleak\"'"]), config: "plugin-leak")
        #expect(result.status == 99)
        #expect(result.stderr.contains("definitely lost: 64 bytes"))
    }
}
