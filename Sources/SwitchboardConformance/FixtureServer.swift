import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchboardCore
import Synchronization

/// The fixture served on loopback as a real HTTP server, so the plugin under test reaches it
/// through the real host egress: scripted exchanges first, then the collections, and a fault the
/// runner injects answers the next request instead of either (docs/CONFORMANCE.md).
public final class FixtureServer: @unchecked Sendable {
    /// An answer the runner forces on the next request, to see how the plugin classifies it.
    /// A 401 answers every request until cleared: a connector may rightly log in again once on a 401
    /// (a session expired), and only a credential refused every time must end as AUTH.
    public enum Fault: String, Sendable, CaseIterable {
        case unauthorized = "401"
        case tooManyRequests = "429 with Retry-After"
        case unavailable = "503 with Retry-After"
        case rejected = "422 with a JSON error"
        case malformed = "200 with a body that is not JSON"

        var answer: (status: Int, headers: [(String, String)], body: String) {
            switch self {
            case .unauthorized: (401, [("Content-Type", "application/json")], #"{"error":"invalid or expired token"}"#)
            case .tooManyRequests: (429, [("Retry-After", "7")], "")
            case .unavailable: (503, [("Retry-After", "7")], "")
            case .rejected: (422, [("Content-Type", "application/json")], #"{"error":"name: must be at most 80 characters"}"#)
            case .malformed: (200, [("Content-Type", "application/json")], #"{"data": [{"id": "7", "na"#)
            }
        }

        /// Whether the fault answers every request until cleared, not just the next one.
        var persists: Bool { self == .unauthorized }
    }

    /// One request the server received, as the report shows it.
    public struct Seen: Sendable {
        public var method: String
        public var target: String
        public var headers: [(String, String)]
        public var answered: Int
        public var matched: Bool
    }

    struct Store {
        var collections: [String: Fixture.Collection]
        var nextID: [String: Int]
        var idempotency: [String: [String: String]] = [:]   // collection -> header value -> id
        var exchanges: [Fixture.Exchange]
        var required: [String: String]
        var faults: [Fault] = []
        /// Requests answered; the unmatched ones are kept (the first 100) for the report.
        var requests = 0
        var unmatched: [Seen] = []
    }

    private let store: Mutex<Store>
    private let group: MultiThreadedEventLoopGroup
    private var channel: Channel?
    public private(set) var port = 0
    public var url: String { "http://127.0.0.1:\(port)" }

    public init(_ fixture: Fixture) {
        var collections: [String: Fixture.Collection] = [:]
        var next: [String: Int] = [:]
        for c in fixture.collections {
            collections[c.path] = c
            next[c.path] = c.records.count + 1
        }
        store = Mutex(Store(collections: collections, nextID: next, exchanges: fixture.exchanges, required: fixture.requireHeaders))
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds 127.0.0.1 on a free port and starts answering.
    public func start() throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(FixtureHandler(server: self)) }
            }
        let channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        self.channel = channel
        port = channel.localAddress?.port ?? 0
    }

    public func stop() {
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// The next request is answered with `fault`, whatever it asks.
    public func inject(_ fault: Fault) { store.withLock { $0.faults.append(fault) } }
    public func clearFaults() { store.withLock { $0.faults.removeAll() } }

    /// The records a collection holds now.
    public func records(_ path: String) -> [JSON] { store.withLock { $0.collections[path]?.records ?? [] } }
    /// How many requests the server answered.
    public var requestCount: Int { store.withLock { $0.requests } }
    /// The first requests no exchange or collection matched.
    public var unmatched: [Seen] { store.withLock { $0.unmatched } }
    /// A request body larger than this is refused (413): the runner holds each body in memory.
    static let maxBody = 16 << 20

    // MARK: answering

    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
    }

    func answer(method: String, target: String, headers: [(String, String)], body: [UInt8]) -> Answer {
        store.withLock { s in
            var answer: Answer
            var matched = true
            let missing = s.required.first { want in !headers.contains { $0.0.lowercased() == want.key.lowercased() && $0.1 == want.value } }
            if !s.faults.isEmpty {
                let fault = (s.faults[0].persists ? s.faults[0] : s.faults.removeFirst()).answer
                answer = Answer(status: fault.status, headers: fault.headers, body: Array(fault.body.utf8))
            } else if let missing {
                // Named, never shown: the value is a credential.
                answer = Self.json(401, .object([("error", .string("the request lacks the required \(missing.key) header (require_headers)"))]))
            } else if let scripted = Self.scripted(&s, method: method, target: target, headers: headers, body: body) {
                answer = scripted
            } else if let resource = Self.collection(&s, method: method, target: target, headers: headers, body: body) {
                answer = resource
            } else {
                matched = false
                answer = Self.json(404, .object([("error", .string("no fixture matches \(method) \(target)"))]))
            }
            s.requests += 1
            if !matched && s.unmatched.count < 100 {
                s.unmatched.append(Seen(method: method, target: target, headers: headers, answered: answer.status, matched: false))
            }
            return answer
        }
    }

    static func json(_ status: Int, _ value: JSON) -> Answer {
        Answer(status: status, headers: [("Content-Type", "application/json")], body: value.bytes)
    }

    static func split(_ target: String) -> (path: String, query: [(String, String)]) {
        let components = URLComponents(string: target)
        let query = (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }
        return (components?.path ?? target, query)
    }

    static func scripted(_ s: inout Store, method: String, target: String, headers: [(String, String)], body: [UInt8]) -> Answer? {
        let (path, query) = split(target)
        for i in s.exchanges.indices {
            let e = s.exchanges[i]
            if let m = e.method, m != method { continue }
            if !Self.pathMatches(e.path, path) { continue }
            if e.times == 0 { continue }
            if !e.query.allSatisfy({ want in query.contains { $0.0 == want.key && $0.1 == want.value } }) { continue }
            if !e.headers.allSatisfy({ want in headers.contains { $0.0.lowercased() == want.key.lowercased() && $0.1 == want.value } }) { continue }
            if let needle = e.bodyContains, !String(decoding: body, as: UTF8.self).contains(needle) { continue }
            if let t = e.times { s.exchanges[i].times = t - 1 }
            return Answer(status: e.status, headers: e.responseHeaders, body: e.body)
        }
        return nil
    }

    /// Exact, except that a `*` segment matches any one segment (`/api/accounts/*/`).
    static func pathMatches(_ pattern: String, _ path: String) -> Bool {
        guard pattern.contains("*") else { return pattern == path }
        let want = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let have = path.split(separator: "/", omittingEmptySubsequences: false)
        return want.count == have.count && zip(want, have).allSatisfy { $0 == "*" ? !$1.isEmpty : $0 == $1 }
    }

    static func collection(_ s: inout Store, method: String, target: String, headers: [(String, String)], body: [UInt8]) -> Answer? {
        let (path, query) = split(target)
        let base: String
        let id: String?
        if s.collections[path] != nil {
            (base, id) = (path, nil)
        } else if let slash = path.lastIndex(of: "/"), s.collections[String(path[..<slash])] != nil {
            (base, id) = (String(path[..<slash]), String(path[path.index(after: slash)...]).removingPercentEncoding)
        } else {
            return nil
        }
        let idField = s.collections[base]!.idField
        func index(_ id: String) -> Int? { s.collections[base]!.records.firstIndex { Self.text($0[idField]) == id } }
        switch (method, id) {
        case ("GET", nil):
            return json(200, .array(Self.query(s.collections[base]!.records, query, idField: idField)))
        case ("GET", let id?):
            guard let at = index(id) else { return json(404, .object([("error", .string("\(base)/\(id) not found"))])) }
            return json(200, s.collections[base]!.records[at])
        case ("POST", nil):
            guard let record = try? JSON.parse(body), case .object = record else {
                return json(400, .object([("error", .string("the body must be a JSON object"))]))
            }
            let header = s.collections[base]!.idempotencyHeader
            let key = header.flatMap { h in headers.first { $0.0.lowercased() == h.lowercased() }?.1 }
            if let key, let earlier = s.idempotency[base]?[key], let at = index(earlier) {
                return json(200, s.collections[base]!.records[at])
            }
            var stored = record
            if stored[idField] == nil {
                let n = s.nextID[base] ?? 1
                s.nextID[base] = n + 1
                stored = stored.setting(idField, .string(String(n)))
            }
            s.collections[base]!.records.append(stored)
            if let key { s.idempotency[base, default: [:]][key] = text(stored[idField]) }
            return json(201, stored)
        case ("PUT", let id?), ("PATCH", let id?):
            guard let at = index(id) else { return json(404, .object([("error", .string("\(base)/\(id) not found"))])) }
            guard let record = try? JSON.parse(body), case .object(let members) = record else {
                return json(400, .object([("error", .string("the body must be a JSON object"))]))
            }
            var updated = method == "PUT" ? record : s.collections[base]!.records[at]
            if method == "PATCH" { for (k, v) in members { updated = updated.setting(k, v) } }
            updated = updated.setting(idField, s.collections[base]!.records[at][idField] ?? .string(id))
            s.collections[base]!.records[at] = updated
            return json(200, updated)
        case ("DELETE", let id?):
            guard let at = index(id) else { return json(404, .object([("error", .string("\(base)/\(id) not found"))])) }
            s.collections[base]!.records.remove(at: at)
            return Answer(status: 204, headers: [], body: [])
        default:
            return json(405, .object([("error", .string("\(method) is not answered on \(path)"))]))
        }
    }

    static func text(_ value: JSON?) -> String? {
        switch value {
        case .string(let s)?: s
        case .number(let n)?: n
        default: nil
        }
    }

    /// json-server's filters: FIELD=V, FIELD_gt/_gte/_lt/_lte, _sort, _limit.
    static func query(_ records: [JSON], _ query: [(String, String)], idField: String) -> [JSON] {
        var out = records
        var sort = idField
        var limit: Int?
        for (name, value) in query {
            switch name {
            case "_sort": sort = value
            case "_limit": limit = Int(value)
            default:
                var field = name
                var keep: (Int) -> Bool = { $0 == 0 }
                for (suffix, test) in [("_gte", { (c: Int) in c >= 0 }), ("_gt", { $0 > 0 }), ("_lte", { $0 <= 0 }), ("_lt", { $0 < 0 })]
                where name.hasSuffix(suffix) {
                    field = String(name.dropLast(suffix.count))
                    keep = test
                    break
                }
                out = out.filter { record in text(record[field]).map { keep(compare($0, value)) } ?? false }
            }
        }
        // Stable: records that tie keep the collection's order, so pages never shuffle between reads.
        out = out.enumerated().sorted { a, b in
            let c = compare(text(a.element[sort]) ?? "", text(b.element[sort]) ?? "")
            return c != 0 ? c < 0 : a.offset < b.offset
        }.map(\.element)
        if let limit { out = Array(out.prefix(max(limit, 0))) }
        return out
    }

    /// Numbers as numbers, anything else as text (ISO-8601 times order as text).
    static func compare(_ a: String, _ b: String) -> Int {
        if let x = Double(a), let y = Double(b) { return x < y ? -1 : x > y ? 1 : 0 }
        return a < b ? -1 : a > b ? 1 : 0
    }
}

/// One HTTP/1.1 connection of the fixture server: collects a request, answers it.
private final class FixtureHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: FixtureServer
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var oversize = false

    init(server: FixtureServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            oversize = false
        case .body(var buffer):
            // Past the cap the body is dropped, not buffered: the request is answered 413 at its end.
            if body.count + buffer.readableBytes <= FixtureServer.maxBody { body += buffer.readBytes(length: buffer.readableBytes) ?? [] } else { oversize = true }
        case .end:
            guard let head else { return }
            let answer = oversize
                ? FixtureServer.json(413, .object([("error", .string("the request body is over \(FixtureServer.maxBody) bytes"))]))
                : server.answer(method: head.method.rawValue, target: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body)
            var headers = HTTPHeaders(answer.headers.map { ($0.0, $0.1) })
            headers.replaceOrAdd(name: "Content-Length", value: String(answer.body.count))
            let response = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            if !answer.body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
