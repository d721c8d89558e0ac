/// An invariant a fuzz target found broken: the input is a finding even though nothing trapped.
public struct FuzzFinding: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One parser of outside input, driven by libFuzzer (`scripts/fuzz`) and replayed from its corpus by the
/// tests (`FuzzCorpusTests`). A target returns normally for any input the parser rejects cleanly; it
/// throws `FuzzFinding` when an invariant breaks, and a trap inside the parser is a finding by itself.
public struct FuzzTarget: Sendable {
    public var name: String
    /// What it feeds and what it asserts, one line (`switchboard-fuzz --list`).
    public var summary: String
    public var run: @Sendable ([UInt8]) throws(FuzzFinding) -> Void

    /// Every target, by name: the corpus folders under Tests/Fuzz/corpus have these names.
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "frames", summary: "worker-to-host frames: framing, then the host's decoder of each frame type",
                   run: WorkerFramesFuzz.run),
        FuzzTarget(name: "json", summary: "JSON parser; what parses writes out and parses back equal, and writes the same bytes",
                   run: JSONRoundTripFuzz.run),
        FuzzTarget(name: "mapping", summary: "mapping expression parser; what parses evaluates, and its result writes valid JSON",
                   run: MappingExpressionFuzz.run),
        FuzzTarget(name: "manifest", summary: "the plugin manifest reader over a fuzzed sb_manifest (sizes, minors, bits, strings)",
                   run: ManifestFuzz.run),
        FuzzTarget(name: "webhook-signature", summary: "t=UNIX,v1=HEX signature headers; only the right MAC is authentic",
                   run: WebhookSignatureFuzz.run),
        FuzzTarget(name: "config", summary: "the YAML configuration loader; a rejection names the file",
                   run: ConfigLoaderFuzz.run),
        FuzzTarget(name: "decimal", summary: "exact decimal addition; commutative, and a decimal in gives a decimal out",
                   run: DecimalFuzz.run),
        FuzzTarget(name: "c-kit-json", summary: "switchboard/kit.h (C SDK) JSON reader and writer: what reads, writes back and reads the same",
                   run: CKitJSONFuzz.run),
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
