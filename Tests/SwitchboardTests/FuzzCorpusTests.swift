import Foundation
import SwitchboardCore
import SwitchboardFuzzTargets
import SwitchboardSignedWebhook
import Testing

/// Every fuzz target's corpus, seeds and the crashes fuzzing found, replayed through the same target
/// functions libFuzzer drives (scripts/fuzz): a fixed crash stays fixed.
@Suite struct FuzzCorpusTests {
    static let corpus = TestEnv.repoRoot + "/Tests/Fuzz/corpus"

    @Test(arguments: FuzzTarget.all.map(\.name))
    func everyCorpusInputPasses(target name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let folder = Self.corpus + "/" + name
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(!files.isEmpty, "target \(name) has no seed corpus in \(folder)")
        for file in files {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/" + file)))
            do { try target.run(bytes) } catch { Issue.record("\(name)/\(file): \(error)") }
        }
    }

    @Test func everyCorpusFolderIsATarget() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).sorted()
        #expect(folders == FuzzTarget.all.map(\.name).sorted())
    }

    /// Found by fuzzing: a forged `t=` of Int64.min overflowed the age and trapped the verifier (a crashed
    /// worker when sandboxed, a dead host when trusted in-process).
    @Test func aTimestampAtTheEdgeOfInt64IsStaleNotATrap() {
        for t in [Int64.min, Int64.max, Int64.min + 1] {
            let verdict = SignedWebhook.verify(header: "t=\(t),v1=00", body: [], secret: [1], now: 1_800_000_000,
                                               toleranceSeconds: 300, headerName: "X-Sig")
            guard case .rejected(let why) = verdict else { Issue.record("t=\(t) was authentic"); continue }
            #expect(why.contains("stale"), "t=\(t): \(why)")
        }
    }

    /// Found by fuzzing: with several `t=`, the verifier took the last one that parsed; now exactly one is required.
    @Test func aHeaderWithTwoTimestampsIsRejected() {
        let verdict = SignedWebhook.verify(header: "t=garbage,t=1800000000,v1=00", body: [], secret: [1], now: 1_800_000_000,
                                           toleranceSeconds: 300, headerName: "X-Sig")
        #expect(verdict == .rejected("X-Sig is not t=UNIX,v1=HEX (one t, at least one v1)"))
    }

    /// Found by fuzzing: an object with a duplicate member name was not equal to itself after a round trip, and
    /// which of the two counted differed between systems. Such JSON is refused, naming the name.
    @Test func aDuplicateMemberNameIsRefused() {
        #expect(throws: JSONParseError.self) { try JSON.parse(#"{"n":[1],"n":2}"#) }
        do { _ = try JSON.parse(#"{"a":{"n":1,"m":2,"n":3}}"#) } catch {
            #expect(error.description == #"invalid JSON at byte 18: duplicate member name "n" in object"#)
        }
        #expect(throws: Never.self) { try JSON.parse(#"{"n":{"n":1},"m":[{"n":2},{"n":3}]}"#) }
    }

    /// Found by fuzzing: the number literal `07` parsed and was written into records as invalid JSON.
    @Test func aNumberLiteralWithALeadingZeroIsRefused() throws {
        for text in ["07", "-00.5", "00"] {
            #expect(throws: MappingExpression.ParseError.self, "\(text)") { try MappingExpression.parse(text) }
        }
        for text in ["0", "0.5", "-0.25", "10"] {
            #expect(throws: Never.self, "\(text)") { try MappingExpression.parse(text) }
        }
    }
}
