import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import SwitchboardCore
import SwitchboardHost

/// HTTP egress for one connection: the allowlist, TLS verification (always on
/// for https), connect/read timeouts, a response size cap, a token bucket and
/// a concurrency cap, and the connection's credentials added by the host.
/// Plugin calls are synchronous, so a request blocks the plugin's thread
/// (never an event loop) until the response or a timeout.
public final class HTTPEgress: EgressClient, @unchecked Sendable {
    public let policy: EgressPolicy
    private let resolve: @Sendable (String) throws -> [UInt8]?
    private let client: HTTPClient
    private let bucket: (any RateLimiter)?
    private let slots: DispatchSemaphore
    private let lock = Lock()
    private var token: (value: String, expires: Date)?
    private var rotatedRefreshToken: String?

    /// `resolve` turns a secret reference (`vault:NAME`, `env:VAR`) into its value. `limiter` paces the
    /// requests when the policy sets a rate (default: a token bucket in this process).
    public init(policy: EgressPolicy, resolve: @escaping @Sendable (String) throws -> [UInt8]?,
                limiter: (any RateLimiter)? = nil) {
        self.policy = policy
        self.resolve = resolve
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(policy.connectTimeoutMillis), read: .milliseconds(policy.readTimeoutMillis))
        configuration.redirectConfiguration = .disallow  // a redirect could leave the allowlist
        // A refused connection fails the call at once (SB_RETRY): the durable retry queue waits, not
        // the worker thread (the client's own reconnect loop held a worker for the whole connect timeout).
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        bucket = policy.ratePerSecond.map { limiter ?? TokenBucket(ratePerSecond: $0, burst: policy.burst) }
        slots = DispatchSemaphore(value: max(policy.concurrency, 1))
    }

    deinit { try? client.syncShutdown() }

    public func send(_ request: EgressRequest) -> EgressResult {
        guard let url = URL(string: request.url), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(),
              scheme == "https" || scheme == "http" else {
            return .failed(.config, Diagnostic("not an absolute http(s) URL", fieldPath: "request.url"))
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard policy.allow.contains(where: { $0.lowercased() == host || $0.lowercased() == "\(host):\(port)" }) else {
            return .failed(.config, Diagnostic("host \(host):\(port) is not in this connection's egress allowlist",
                                               detail: "allowed: \(policy.allow.joined(separator: ", "))", fieldPath: "egress.allow"))
        }
        if let bucket, !bucket.take(maxWait: Double(policy.readTimeoutMillis) / 1000) {
            return .failed(.retry, Diagnostic("rate limit: no request slot within the read timeout"))
        }
        slots.wait()
        defer { slots.signal() }
        do {
            var response = try perform(request, auth: request.injectAuth)
            if response.status == 401, request.injectAuth, case .oauth2ClientCredentials = policy.auth {
                lock.withLock { token = nil }  // expired or revoked: fetch a new one and try once more
                response = try perform(request, auth: true)
            } else if response.status == 401, request.injectAuth, case .oauth2RefreshToken = policy.auth {
                lock.withLock { token = nil }
                response = try perform(request, auth: true)
            }
            Counter(label: "switchboard_egress_requests_total", dimensions: [("connection", policy.connectionLabel), ("status", String(response.status))])
                .increment()
            return .response(status: response.status, headers: response.headers, body: response.body)
        } catch let failure as EgressFailure {
            return .failed(failure.status, failure.diagnostic)
        } catch let error as ResponseAccumulator.ResponseTooBigError {
            return .failed(.fatal, Diagnostic("response larger than the \(error.maxBodySize)-byte cap", fieldPath: "egress.max_response"))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failed(.retry, Diagnostic("\(host): timed out (\(error))"))
        } catch {
            return .failed(.retry, Diagnostic("\(host): \(error)"))
        }
    }

    struct EgressFailure: Error {
        var status: OperationStatus
        var diagnostic: Diagnostic
    }

    struct Response {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: [UInt8]
    }

    private func perform(_ request: EgressRequest, auth: Bool) throws -> Response {
        var headers = HTTPHeaders()
        // The plugin cannot set credentials itself (the host owns them) unless it is allowed to log in itself.
        for (name, value) in request.headers where policy.pluginAuthorization || name.lowercased() != "authorization" {
            headers.add(name: name, value: value)
        }
        if auth { try addCredentials(to: &headers) }
        var outgoing = try HTTPClient.Request(url: request.url, method: HTTPMethod(rawValue: request.method.uppercased()), headers: headers,
                                              body: request.body.isEmpty ? nil : .bytes(request.body))
        outgoing.headers.replaceOrAdd(name: "User-Agent", value: "Switchboard")
        let timeout = request.timeoutMilliseconds > 0 ? Int64(request.timeoutMilliseconds) : policy.readTimeoutMillis
        let delegate = ResponseAccumulator(request: outgoing, maxBodySize: policy.maxResponseBytes)
        let response = try client.execute(request: outgoing, delegate: delegate, deadline: .now() + .milliseconds(timeout)).wait()
        var body: [UInt8] = []
        if let buffer = response.body { body = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [] }
        return Response(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: body)
    }

    private func secret(_ reference: String, _ field: String) throws -> String {
        guard let value = try resolve(reference) else {
            throw EgressFailure(status: .config, diagnostic: Diagnostic("credential \(reference) is not set", fieldPath: "egress.auth.\(field)"))
        }
        return String(decoding: value, as: UTF8.self)
    }

    private func addCredentials(to headers: inout HTTPHeaders) throws {
        switch policy.auth {
        case .none:
            return
        case .bearer(let reference):
            headers.replaceOrAdd(name: "Authorization", value: "Bearer " + (try secret(reference, "token")))
        case .basic(let user, let password):
            let pair = try secret(user, "username") + ":" + secret(password, "password")
            headers.replaceOrAdd(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        case .apiKey(let header, let value):
            headers.replaceOrAdd(name: header, value: try secret(value, "value"))
        case .oauth2ClientCredentials, .oauth2RefreshToken:
            headers.replaceOrAdd(name: "Authorization", value: "Bearer " + (try accessToken()))
        }
    }

    /// A cached OAuth2 access token, fetched again when it expires or a 401 revoked it.
    private func accessToken() throws -> String {
        if let cached = lock.withLock({ token }), cached.expires > Date() { return cached.value }
        var form: [(String, String)]
        let tokenURL: String
        switch policy.auth {
        case .oauth2ClientCredentials(let url, let id, let secretRef, let scope):
            tokenURL = url
            form = [("grant_type", "client_credentials"), ("client_id", try secret(id, "client_id")),
                    ("client_secret", try secret(secretRef, "client_secret"))]
            if let scope { form.append(("scope", scope)) }
        case .oauth2RefreshToken(let url, let id, let secretRef, let refreshRef):
            tokenURL = url
            let refresh = try lock.withLock({ rotatedRefreshToken }) ?? secret(refreshRef, "refresh_token")
            form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", try secret(id, "client_id"))]
            if let secretRef { form.append(("client_secret", try secret(secretRef, "client_secret"))) }
        default:
            throw EgressFailure(status: .config, diagnostic: Diagnostic("not an OAuth2 scheme", fieldPath: "egress.auth.type"))
        }
        let body = form.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let request = try HTTPClient.Request(url: tokenURL, method: .POST, headers: headers, body: .bytes(Array(body.utf8)))
        let response = try client.execute(request: request, delegate: ResponseAccumulator(request: request, maxBodySize: 1 << 20),
                                          deadline: .now() + .milliseconds(policy.readTimeoutMillis)).wait()
        let bytes = response.body.map { $0.getBytes(at: $0.readerIndex, length: $0.readableBytes) ?? [] } ?? []
        guard response.status == .ok, let json = try? JSON.parse(bytes), let access = json["access_token"]?.stringValue else {
            let status: OperationStatus = response.status.code >= 500 ? .retry : .auth
            // The token endpoint's answer is not echoed: it may carry credentials.
            throw EgressFailure(status: status, diagnostic: Diagnostic("token endpoint answered \(response.status.code)", fieldPath: "egress.auth.token_url"))
        }
        let lifetime = Double(json["expires_in"]?.numberText ?? "") ?? 3600
        lock.withLock {
            token = (access, Date().addingTimeInterval(max(lifetime - 30, 1)))
            if let next = json["refresh_token"]?.stringValue { rotatedRefreshToken = next }
        }
        return access
    }

    static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
