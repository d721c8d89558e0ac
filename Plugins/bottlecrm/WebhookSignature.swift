// BottleCRM signs each delivery: `X-BottleCRM-Signature: t=UNIX,v1=HEX` where
// HEX = HMAC-SHA256(secret, "UNIX." + body). A delivery is authentic when the
// MAC matches (compared in constant time) and UNIX is within the tolerance of
// now, so a captured delivery cannot be replayed later.
import Crypto
import Foundation

enum WebhookSignature {
    enum Verdict: Equatable {
        case authentic
        case rejected(String)
    }

    static func verify(header: String?, body: [UInt8], secret: [UInt8], now: Int64, toleranceSeconds: Int64) -> Verdict {
        guard let header, !header.isEmpty else { return .rejected("no X-BottleCRM-Signature header") }
        var timestamp: Int64?
        var macs: [String] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int64(pair[1]) }
            if pair[0] == "v1" { macs.append(pair[1].lowercased()) }
        }
        guard let timestamp, !macs.isEmpty else { return .rejected("X-BottleCRM-Signature is not t=UNIX,v1=HEX") }
        let age = now - timestamp
        guard abs(age) <= toleranceSeconds else {
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

    static func hexBytes(_ text: String) -> [UInt8]? {
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
