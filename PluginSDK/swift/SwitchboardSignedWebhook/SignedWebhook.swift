// Timestamped HMAC webhook signatures, the scheme BottleCRM, Stripe and many others use:
// `HEADER: t=UNIX,v1=HEX` where HEX = HMAC-SHA256(secret, "UNIX." + body). A delivery is
// authentic when one v1 MAC matches (compared in constant time) and UNIX is within the
// tolerance of now, so a captured delivery cannot be replayed later. The header is outside
// input: this parser is fuzzed (Tests/Fuzz).
import Crypto
import Foundation

/// Verifies `t=UNIX,v1=HEX` HMAC-SHA256 webhook signatures for connector plugins.
public enum SignedWebhook {
    /// Whether a delivery is authentic, and if not, why (safe to show: it never contains the secret).
    public enum Verdict: Equatable, Sendable {
        case authentic
        case rejected(String)
    }

    /// Checks `header` (the signature header's value, nil if absent) against `body` and `secret`.
    /// `now` and the signed time are UNIX seconds; `headerName` only names the header in verdicts.
    public static func verify(header: String?, body: [UInt8], secret: [UInt8], now: Int64, toleranceSeconds: Int64,
                              headerName: String = "signature") -> Verdict {
        guard let header, !header.isEmpty else { return .rejected("no \(headerName) header") }
        var timestamps: [Substring] = []
        var macs: [String] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamps.append(Substring(pair[1])) }
            if pair[0] == "v1" { macs.append(pair[1].lowercased()) }
        }
        // Exactly one timestamp, a whole number: with several, which one was signed would be up to the parser
        // (found by fuzzing: an unparseable t= before a valid one was skipped).
        guard timestamps.count == 1, let timestamp = Int64(timestamps[0]), !macs.isEmpty else {
            return .rejected("\(headerName) is not t=UNIX,v1=HEX (one t, at least one v1)")
        }
        // Any Int64 parses as a timestamp: the age saturates instead of trapping (t=-9223372036854775808
        // crashed the verifier, found by fuzzing).
        let (difference, overflow) = now.subtractingReportingOverflow(timestamp)
        let age = overflow ? (timestamp < 0 ? Int64.max : Int64.min) : difference
        guard age != .min, abs(age) <= toleranceSeconds else {
            return .rejected("stale delivery: signed \(age) s ago, outside the \(toleranceSeconds) s tolerance")
        }
        let key = SymmetricKey(data: secret)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: key)
        let expected = Array(mac)
        for candidate in macs {
            guard let bytes = hexBytes(candidate), bytes.count == expected.count else { continue }
            var difference: UInt8 = 0
            for (a, b) in zip(bytes, expected) { difference |= a ^ b }
            if difference == 0 { return .authentic }
        }
        return .rejected("signature does not match (wrong secret, or the body was altered)")
    }

    public static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
