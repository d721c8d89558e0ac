/// Seeded mutations of valid inputs for boundary fuzzing: bit flips, byte
/// inserts and deletes, truncation, duplicated chunks, hostile tokens. The
/// same seed gives the same inputs, so a failure can be replayed.
struct InputMutator {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    /// xorshift64*: fast, and reproducible across platforms.
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    static let tokens: [[UInt8]] = [
        "\"", "\\", "{", "}", "[", "]", ":", ",", "null", "true", "-1", "1e999", "99999999999999999999999",
        "\u{0}", "\u{FFFD}", "\"\\u0000\"", "NaN", "{\"a\":", "]]]]", "%s%n%x", "\u{7F}\u{80}\u{FF}",
    ].map { Array($0.utf8) }

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var out = input
        for _ in 0...below(3) {
            switch below(8) {
            case 0 where !out.isEmpty:  // flip a bit
                let i = below(out.count)
                out[i] ^= UInt8(1 << below(8))
            case 1:  // insert a random byte
                out.insert(UInt8(truncatingIfNeeded: next()), at: below(out.count + 1))
            case 2 where !out.isEmpty:  // delete a run
                let i = below(out.count)
                out.removeSubrange(i..<min(out.count, i + 1 + below(8)))
            case 3:  // truncate
                out = Array(out.prefix(below(out.count + 1)))
            case 4 where !out.isEmpty:  // duplicate a chunk
                let i = below(out.count)
                let chunk = out[i..<min(out.count, i + 1 + below(64))]
                out.insert(contentsOf: chunk, at: below(out.count + 1))
            case 5:  // a hostile token
                out.insert(contentsOf: Self.tokens[below(Self.tokens.count)], at: below(out.count + 1))
            case 6:  // deep nesting
                let depth = 1 + below(2000)
                out = Array(repeating: UInt8(ascii: "["), count: depth) + out + Array(repeating: UInt8(ascii: "]"), count: depth)
            default:  // random bytes
                out = (0..<below(256)).map { _ in UInt8(truncatingIfNeeded: next()) }
            }
        }
        return out
    }
}
