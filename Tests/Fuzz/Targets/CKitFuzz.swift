#if canImport(Glibc)
import Glibc
#endif
import SwitchboardCore
import SwitchboardKitFuzzShim

/// switchboard/kit.h's JSON reader and writer (the C SDK helper partners compile into their plugins):
/// what the reader accepts, the writer writes back so that it reads the same; and that text is JSON the
/// host's own parser accepts whenever it accepted the input (an independent parser as the referee).
enum CKitJSONFuzz {
    static func run(_ data: [UInt8]) throws(FuzzFinding) {
        var accepted: Int32 = 0
        var rewritten: UnsafeMutablePointer<CChar>?
        var length = 0
        var why = [CChar](repeating: 0, count: 256)
        let broken = data.withUnsafeBufferPointer { kit_fuzz_json($0.baseAddress, $0.count, &accepted, &rewritten, &length, &why, why.count) }
        defer { free(rewritten) }
        if broken != 0 { throw FuzzFinding("kit.h JSON: " + String(cString: why)) }
        guard accepted != 0, let rewritten, (try? JSON.parse(data)) != nil else { return }
        let text = UnsafeRawBufferPointer(start: rewritten, count: length)
        do { _ = try JSON.parse(Array(text)) } catch {
            throw FuzzFinding("kit.h wrote text the host's JSON parser refuses: \(error)")
        }
    }
}
