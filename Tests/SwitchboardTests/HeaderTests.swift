import Foundation
import SwitchboardHost
import Testing

/// The header is the whole contract: it must compile cleanly as C99 and
/// C++17, and a plugin must build from it with nothing else.
@Suite struct HeaderTests {
    static let program = """
        #include <switchboard/plugin.h>
        int main(void) {
            sb_str s = SB_STR_LIT("x");
            sb_manifest m;
            m.struct_size = sizeof m;
            (void)s;
            return SB_HAS_FIELD(&m, sb_manifest, vendor) ? 0 : 1;
        }
        """

    @Test func compilesAsStrictC99() throws {
        let dir = TestEnv.tempDir()
        try Self.program.write(toFile: "\(dir)/t.c", atomically: true, encoding: .utf8)
        let result = try TestEnv.shell("cc -std=c99 -Wall -Wextra -Werror -pedantic -I '\(TestEnv.header)' -o t t.c && ./t", in: dir)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func compilesAsCxx17() throws {
        let dir = TestEnv.tempDir()
        try Self.program.write(toFile: "\(dir)/t.cpp", atomically: true, encoding: .utf8)
        let result = try TestEnv.shell("c++ -std=c++17 -Wall -Werror -Wextra -pedantic -I '\(TestEnv.header)' -o t t.cpp && ./t", in: dir)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func includesNothingButStandardHeaders() throws {
        let text = try String(contentsOfFile: TestEnv.header + "/switchboard/plugin.h", encoding: .utf8)
        let includes = text.split(separator: "\n").filter { $0.hasPrefix("#include") }.map(String.init)
        #expect(includes.sorted() == ["#include <stdbool.h>", "#include <stddef.h>", "#include <stdint.h>"])
    }

    /// The C example builds with nothing but cc and the header, and the host loads it.
    @Test func exampleCBuildsWithPlainCC() throws {
        let dir = TestEnv.tempDir()
        let result = try TestEnv.shell(
            "cc -shared -fPIC -std=c99 -Wall -Wextra -Werror -pedantic -I PluginSDK/include -o '\(dir)/example_c.so' Plugins/examples/example-c/example_c.c",
            in: TestEnv.repoRoot)
        #expect(result.status == 0, "\(result.stderr)")
        let plugin = try PluginLibrary.load(path: "\(dir)/example_c.so")
        #expect(plugin.descriptor.id == "example-c")
        // Only the two entry points are exported: no data symbols, nothing else.
        let symbols = try TestEnv.shell("nm -D --defined-only '\(dir)/example_c.so' | awk '{print $2\" \"$3}'")
        let exported = symbols.stdout.split(separator: "\n").filter { !$0.hasSuffix(" _init") && !$0.hasSuffix(" _fini") }
        #expect(exported.sorted() == ["T switchboard_plugin_init", "T switchboard_plugin_manifest"])
    }
}
