import Crypto
import SwitchboardCore

/// SHA-256 helpers (content hashes, canonical ids, the audit chain).
public enum Hashing {
    public static func hex(_ bytes: [UInt8]) -> String {
        let digest = SHA256.hash(data: bytes)
        return String(unsafeUninitializedCapacity: 64) { out in
            var i = 0
            for byte in digest {
                out[i] = hexDigits[Int(byte >> 4)]
                out[i + 1] = hexDigits[Int(byte & 0xF)]
                i += 2
            }
            return 64
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}
