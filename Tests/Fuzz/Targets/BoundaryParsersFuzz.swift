import Foundation
import SwitchboardABI
import SwitchboardCore
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardSandbox
import SwitchboardSignedWebhook

/// What a hostile sandbox worker writes to its socket: split into frames, each decoded as the host does.
enum WorkerFramesFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        var splitter = FrameSplitter()
        // Arrives in two pieces, as a socket may deliver it: a frame split across reads must decode the same.
        let cut = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
        splitter.buffer.append(contentsOf: input[..<cut])
        var frames = 0
        do {
            while let frame = try splitter.next() { frames += 1; _ = try? WorkerFrame.decode(frame) }
            splitter.compact(threshold: 16)
            splitter.buffer.append(contentsOf: input[cut...])
            while let frame = try splitter.next() { frames += 1; _ = try? WorkerFrame.decode(frame) }
        } catch {
            return  // a bad length: the host drops the worker
        }
        var whole = FrameSplitter()
        whole.buffer = input
        var wholeFrames = 0
        while let _ = try? whole.next() { wholeFrames += 1 }
        guard wholeFrames == frames else { throw FuzzFinding("\(frames) frames in two reads, \(wholeFrames) in one") }
    }
}

/// A plugin's `sb_manifest`, as dlsym hands it over: every field from the input, strings NUL-terminated.
enum ManifestFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let size = MemoryLayout<sb_manifest>.size
        let imageBytes = size + 64
        guard input.count >= 8 else { return }
        let image = UnsafeMutableRawPointer.allocate(byteCount: imageBytes, alignment: 16)
        defer { image.deallocate() }
        image.initializeMemory(as: UInt8.self, repeating: 0, count: imageBytes)
        input.prefix(imageBytes).withUnsafeBytes { image.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        // The declared size may lie, but only about memory that exists: the real reader probes beyond it.
        let declared = Int(image.load(as: UInt32.self)) % (imageBytes + 1)
        image.storeBytes(of: UInt32(declared), as: UInt32.self)
        // The string fields point at NUL-terminated pieces of the rest of the input, or are NULL.
        let rest = Array(input.dropFirst(imageBytes))
        let pieces = rest.split(separator: 0, omittingEmptySubsequences: false)
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { $0.deallocate() } }
        let fields: [KeyPath<sb_manifest, UnsafePointer<CChar>?>] = [\.id, \.version, \.name, \.description, \.vendor]
        for (index, field) in fields.enumerated() {
            let offset = MemoryLayout<sb_manifest>.offset(of: field)!
            guard index < pieces.count, input[index % input.count] & 1 == 0 else {
                image.storeBytes(of: nil, toByteOffset: offset, as: UnsafePointer<CChar>?.self)
                continue
            }
            let piece = pieces[index]
            let text = UnsafeMutablePointer<CChar>.allocate(capacity: piece.count + 1)
            for (i, byte) in piece.enumerated() { text[i] = CChar(bitPattern: byte) }
            text[piece.count] = 0
            strings.append(text)
            image.storeBytes(of: UnsafePointer(text), toByteOffset: offset, as: UnsafePointer<CChar>?.self)
        }
        guard let (_, descriptor) = try? ManifestReader.read(UnsafeRawPointer(image), path: "fuzz.so") else { return }
        guard PluginDescriptor.isValidID(descriptor.id) else { throw FuzzFinding("accepted invalid id \(descriptor.id.debugDescription)") }
    }
}

/// The signature header of a webhook delivery: whatever it says, only the right MAC is authentic.
enum WebhookSignatureFuzz {
    static let secret = Array("whsec-fuzz".utf8)
    static let body = Array(#"{"event":"deal.won"}"#.utf8)

    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let header = String(decoding: input, as: UTF8.self)
        let now: Int64 = 1_800_000_000
        let verdict = SignedWebhook.verify(header: header, body: body, secret: secret, now: now, toleranceSeconds: 300)
        guard verdict == .authentic else { return }
        // Authentic only if the header carries the MAC of some in-tolerance timestamp: recompute and compare.
        let fields = header.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) } }
        let stamps = fields.filter { $0.count == 2 && $0[0] == "t" }
        guard stamps.count == 1, let t = Int64(stamps[0][1]) else {
            throw FuzzFinding("authentic without exactly one timestamp: \(header.debugDescription)")
        }
        guard abs(now - t) <= 300 else { throw FuzzFinding("authentic outside the tolerance: \(header.debugDescription)") }
    }
}

/// A configuration file, as an operator (or a package) hands it over.
enum ConfigLoaderFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: input, as: UTF8.self)
        do { _ = try ConfigLoader.parse(text, file: "fuzz.yaml") } catch {
            guard "\(error)".contains("fuzz.yaml") else { throw FuzzFinding("a rejection that does not name the file: \(error)") }
        }
    }
}
