import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost

/// Splits a byte stream into frames: `u32 length (LE) | u8 type | body`, length counting the type byte.
/// FrameChannel reads a socket through it; the fuzz target feeds it arbitrary bytes.
package struct FrameSplitter {
    package var buffer: [UInt8] = []
    package var start = 0

    package init() {}

    /// The next whole frame, nil when more bytes are needed; a length outside 1...maxFrameBytes is a violation.
    package mutating func next() throws(ProtocolViolation) -> Frame? {
        let available = buffer.count - start
        guard available >= 4 else { return nil }
        let length = Int(UInt32(buffer[start]) | UInt32(buffer[start + 1]) << 8 | UInt32(buffer[start + 2]) << 16
                         | UInt32(buffer[start + 3]) << 24)
        guard length >= 1, length <= maxFrameBytes else { throw ProtocolViolation(description: "frame length \(length)") }
        guard available >= 4 + length else { return nil }
        let type = buffer[start + 4]
        let body = buffer[(start + 5)..<(start + 4 + length)]
        start += 4 + length
        return Frame(type: type, body: body)
    }

    /// Drops consumed bytes once they are worth moving.
    package mutating func compact(threshold: Int) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > threshold {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

/// What a worker reported about its own hardening in HELLO.
package struct WorkerHello: Sendable {
    package var pid: UInt32
    package var seccomp: Bool
    package var rlimits: Bool
    package var landlockABI: Int
    package var signalScope: Bool
}

/// A host service a worker asks for (REQUEST).
package enum ServiceRequest {
    case secret(name: String)
    case stateGet(key: String)
    case statePut(key: String, value: [UInt8])
    case http(EgressRequest)
}

/// Every frame a worker may send the host, decoded. This is the one place the host reads a worker's
/// bytes, so it is the trust boundary: a hostile worker controls every byte (fuzzed by Tests/Fuzz).
package enum WorkerFrame {
    case hello(WorkerHello)
    case stage(PluginLibrary.LoadStage?, pluginID: String)
    case loaded(PluginDescriptor, capabilities: UInt64, negotiatedMinor: Int)
    case loadFailed(code: String, message: String)
    case emit(EmitKind, key: [UInt8], data: [UInt8])
    case log(Logger.Level, message: String, metadata: [(String, String)])
    /// A metric of a kind this host does not know is ignored, unread.
    case metric(PluginMetricKind?, name: String, value: Double, labels: String)
    case request(ServiceRequest)
    case result(CallOutcome)

    package static func decode(_ frame: Frame) throws(ProtocolViolation) -> WorkerFrame {
        var r = frame.reader
        switch FrameType(rawValue: frame.type) {
        case .hello:
            let pid = try r.u32()
            let seccomp = try r.bool(), rlimits = try r.bool()
            let landlock = Int(try r.u8()), signalScope = try r.bool()
            return .hello(WorkerHello(pid: pid, seccomp: seccomp, rlimits: rlimits, landlockABI: landlock, signalScope: signalScope))
        case .stage:
            let stage = PluginLibrary.LoadStage(rawValue: try r.u8())
            return .stage(stage, pluginID: try r.string())
        case .loaded:
            let json = try r.bytes()
            let descriptor: PluginDescriptor
            do { descriptor = try JSONDecoder().decode(PluginDescriptor.self, from: Data(json)) } catch {
                throw ProtocolViolation(description: "LOADED carries no valid plugin descriptor")
            }
            return .loaded(descriptor, capabilities: try r.u64(), negotiatedMinor: Int(try r.u32()))
        case .loadFailed:
            return .loadFailed(code: try r.string(), message: try r.string())
        case .emit:
            guard let kind = EmitKind(rawValue: try r.u32()) else { throw ProtocolViolation(description: "unknown emit kind") }
            return .emit(kind, key: try r.bytes(), data: try r.bytes())
        case .log:
            let levels = Logger.Level.allCases
            let level = levels[min(Int(try r.u8()), levels.count - 1)]
            return .log(level, message: try r.string(), metadata: try r.map())
        case .metric:
            guard let kind = PluginMetricKind(rawValue: Int32(try r.u8())) else { return .metric(nil, name: "", value: 0, labels: "") }
            let name = try r.string(), value = Double(bitPattern: try r.u64()), labels = try r.string()
            return .metric(kind, name: name, value: value, labels: labels)
        case .request:
            guard let service = WorkerService(rawValue: try r.u8()) else { throw ProtocolViolation(description: "unknown service") }
            switch service {
            case .secret: return .request(.secret(name: try r.string()))
            case .stateGet: return .request(.stateGet(key: try r.string()))
            case .statePut: return .request(.statePut(key: try r.string(), value: try r.bytes()))
            case .http:
                let method = try r.string(), url = try r.string()
                let headers = try r.map().map { (name: $0.0, value: $0.1) }
                let body = try r.bytes()
                let timeout = Int(try r.u32())
                let injectAuth = try r.bool()
                return .request(.http(EgressRequest(method: method, url: url, headers: headers, body: body,
                                                    timeoutMilliseconds: timeout, injectAuth: injectAuth)))
            }
        case .result:
            return .result(try ResultCoding.decode(frame.reader))
        case .load, .call, .reply, .quit, nil:
            throw ProtocolViolation(description: "frame type \(frame.type) is not one a worker sends")
        }
    }
}
