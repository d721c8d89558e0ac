#if canImport(Glibc)
import Glibc
#endif
import SwitchboardCore

/// One received frame: its type byte and its payload.
package struct Frame {
    package var type: UInt8
    package var body: ArraySlice<UInt8>
    var reader: FrameReader { FrameReader(body) }
}

enum ChannelError: Error, CustomStringConvertible {
    case closed
    case timedOut
    case violation(String)
    /// The caller stopped waiting (`SandboxSettings.detachAfterMillis`); the call runs on without it.
    case detached

    var description: String {
        switch self {
        case .closed: "the peer closed the channel"
        case .timedOut: "no answer before the deadline"
        case .violation(let why): "protocol violation: \(why)"
        case .detached: "the caller stopped waiting"
        }
    }
}

/// Blocking, buffered framed I/O on one socket. Not thread-safe: each side
/// has one reader, and writers serialise through their own lock.
final class FrameChannel: @unchecked Sendable {
    let fd: Int32
    private var frames = FrameSplitter()
    private let chunk = 64 * 1024

    private let scratch: UnsafeMutableRawPointer

    /// How long `receive` polls without sleeping before it blocks.
    let spinNanoseconds: Int64

    init(fd: Int32, spinNanoseconds: Int64 = 0) {
        self.fd = fd
        self.spinNanoseconds = spinNanoseconds
        scratch = .allocate(byteCount: chunk, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// Writes every byte (a frame or several, already encoded).
    func send(_ bytes: [UInt8]) throws(ChannelError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .closed
            }
            offset += n
        }
    }

    /// The next frame. `deadline` is a monotonic time in ns (0 waits forever).
    func receive(deadline: Int64 = 0) throws(ChannelError) -> Frame {
        while true {
            do {
                if let frame = try frames.next() { return frame }
            } catch {
                throw .violation(error.description)
            }
            try fill(deadline: deadline)
        }
    }

    private func fill(deadline: Int64) throws(ChannelError) {
        frames.compact(threshold: chunk)
        // A short spin before sleeping: the peer usually answers within microseconds, and a
        // sleeping thread's wake-up costs more than the whole exchange (docs/SANDBOX.md).
        if spinNanoseconds > 0 {
            let spinUntil = Clock.monotonicNanoseconds() + spinNanoseconds
            repeat {
                let n = recv(fd, scratch, chunk, Int32(MSG_DONTWAIT))
                if n > 0 {
                    frames.buffer.append(contentsOf: UnsafeRawBufferPointer(start: scratch, count: n))
                    return
                }
                if n == 0 { throw .closed }
                if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { throw .closed }
            } while Clock.monotonicNanoseconds() < spinUntil
        }
        if deadline != 0 {
            while true {
                let remaining = (deadline - Clock.monotonicNanoseconds()) / 1_000_000
                if remaining <= 0 { throw .timedOut }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&p, 1, Int32(min(remaining, 1000)))
                if n > 0 { break }
                if n < 0 && errno != EINTR { throw .closed }
            }
        }
        var n: Int
        repeat { n = recv(fd, scratch, chunk, 0) } while n < 0 && errno == EINTR
        if n > 0 { frames.buffer.append(contentsOf: UnsafeRawBufferPointer(start: scratch, count: n)) }
        if n <= 0 { throw .closed }
    }
}
