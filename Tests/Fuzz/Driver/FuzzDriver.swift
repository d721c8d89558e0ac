// The fuzz executable. Built by scripts/fuzz with `-sanitize=fuzzer,address -D SWITCHBOARD_LIBFUZZER`,
// libFuzzer's own main drives one target (SB_FUZZ_TARGET). Built plainly, it replays files through a
// target: `switchboard-fuzz TARGET FILE...`, or lists the targets with `--list`.
import SwitchboardFuzzTargets
#if canImport(Glibc)
import Glibc
#endif

/// One line on standard error (the C `stderr` global is not concurrency-safe to name in Swift 6).
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

#if SWITCHBOARD_LIBFUZZER
nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if selected == nil {
        let name = getenv("SB_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget.named(name) else {
            printError("switchboard-fuzz: set SB_FUZZ_TARGET to one of: \(FuzzTarget.all.map(\.name).joined(separator: ", "))")
            exit(2)
        }
        selected = target
    }
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do { try selected!.run(input) } catch {
        printError("switchboard-fuzz: \(selected!.name): \(error)")
        abort()
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runLibFuzzer(_ argc: UnsafeMutablePointer<CInt>,
                  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// SwiftPM links an executable's entry point as `<module>_main`; libFuzzer's driver runs from it
// (its own `main` is then never linked).
@_cdecl("SwitchboardFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runLibFuzzer(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
@main
struct FuzzReplay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "--list" || args.isEmpty {
            for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
            exit(args.isEmpty ? 2 : 0)
        }
        guard let target = FuzzTarget.named(args[0]) else {
            printError("switchboard-fuzz: no target \(args[0])")
            exit(2)
        }
        var failed = false
        for path in args.dropFirst() {
            guard let file = fopen(path, "rb") else { printError("\(path): cannot open"); exit(2) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&chunk, 1, chunk.count, file)
                if n <= 0 { break }
                bytes.append(contentsOf: chunk[..<n])
            }
            fclose(file)
            do { try target.run(bytes) } catch {
                print("\(path): \(error)")
                failed = true
            }
        }
        exit(failed ? 1 : 0)
    }
}
#endif
