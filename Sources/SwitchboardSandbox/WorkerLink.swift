#if canImport(Glibc)
import Glibc
#endif
import SwitchboardCore
import Synchronization

/// The worker's end of the protocol: one-way frames are buffered and go out
/// with the next frame that needs an answer or with the call's RESULT, so a
/// plain call costs one write. Safe from any thread the plugin uses.
final class WorkerLink: @unchecked Sendable {
    let channel: FrameChannel
    private let outgoing = Mutex<[UInt8]>([])
    /// Held by whoever reads the channel: the main loop between calls, a host request during one.
    let readLock = Mutex<Void>(())
    private let flushThreshold = 256 * 1024

    init(channel: FrameChannel) { self.channel = channel }

    /// Queues a one-way frame (EMIT, LOG, METRIC).
    func post(_ frame: consuming FrameWriter) {
        let bytes = frame.framed()
        outgoing.withLock { buffer in
            buffer.append(contentsOf: bytes)
            if buffer.count >= flushThreshold { flush(&buffer) }
        }
    }

    /// Sends whatever is queued plus `frame`, in order, in one write.
    func send(_ frame: consuming FrameWriter) {
        let bytes = frame.framed()
        outgoing.withLock { buffer in
            if buffer.isEmpty {
                do { try channel.send(bytes) } catch { _exit(0) }
            } else {
                buffer.append(contentsOf: bytes)
                flush(&buffer)
            }
        }
    }

    private func flush(_ buffer: inout [UInt8]) {
        do { try channel.send(buffer) } catch { _exit(0) }  // the host is gone: nothing left to serve
        buffer.removeAll(keepingCapacity: true)
    }

    /// Asks the host for a service and waits for its REPLY.
    func request(_ frame: FrameWriter) -> FrameReader? {
        readLock.withLock { _ in
            send(frame)
            guard let reply = try? channel.receive(), reply.type == FrameType.reply.rawValue else { _exit(0) }
            return reply.reader
        }
    }
}
