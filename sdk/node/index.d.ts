// Type declarations for `agtp-runtime`, written by hand to match lib/.
/// <reference types="node" />

/** The protocol version this package speaks: `"1.0"`. */
export declare const PROTOCOL_VERSION: string;

/** Where the runtime writes its log lines; `console` will do. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Serves one endpoint. `input` is the request body merged with the query and path
 * parameters, already valid against the endpoint's input schema. Returns (or resolves to)
 * the body, answered with status 200, or a Reply.
 */
export type Handler<Input = any> = (input: Input, ctx: Context) => unknown;

/** Handlers keyed by handler reference (the endpoint file's `[endpoint.handler] function`). */
export type HandlerMap = Record<string, Handler>;

export interface RuntimeOptions {
  /** `hello.module.id`, for the daemon's logs. Default `"node-runtime"`. */
  name?: string;
  /** `hello.module.version`. Default `"0.0.0"`. */
  version?: string;
  /** Handlers to bind at once, as `handler()` binds them. */
  handlers?: HandlerMap;
  /** Default: timestamped lines on stderr. */
  logger?: Logger;
}

export interface ListenOptions {
  /** The gateway socket. Default: `--gateway-socket PATH`, else `AGTP_GATEWAY_SOCKET`. */
  socket?: string;
  /** The pool the connections join. Default: `AGTP_POOL`, else `"default"`. */
  pool?: string;
  /** Connections to keep open, 1 to 1024. Default: `AGTP_CONNECTIONS`, else 2. */
  connections?: number;
  /** Requests one connection may run at once when the daemon grants `multiplex`; 0 or 1 claims no multiplexing. Default: `AGTP_MAX_IN_FLIGHT`, else 64. */
  maxInFlight?: number;
  /** `auto` (MessagePack when `@msgpack/msgpack` loads), `json` or `msgpack`. Default: `AGTP_ENCODING`, else `auto`. */
  encoding?: 'auto' | 'json' | 'msgpack';
  /** The largest frame read or written, in bytes. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Idle time after which the runtime pings the daemon, in ms. Default 60000. */
  keepaliveMs?: number;
  /** Command-line arguments to read `--gateway-socket` from. Default `process.argv.slice(2)`. */
  argv?: string[];
  /** Environment to read `AGTP_*` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Drain and stop on SIGTERM and SIGINT (a second signal exits at once). Default true. */
  signals?: boolean;
  /** Call `process.exit()` with the exit status when the runtime stops, and exit 64 on a ConfigError. Default true. */
  exit?: boolean;
}

export interface ServerSettings {
  socket: string;
  pool: string;
  connections: number;
  maxInFlight: number;
  encoding: 'auto' | 'json' | 'msgpack';
  maxFrameBytes: number;
  keepaliveMs: number;
}

/** The registry of handlers of one service. */
export declare class Runtime {
  constructor(options?: RuntimeOptions);
  readonly name: string;
  readonly version: string;
  /** Binds `handler` to the endpoints whose handler reference is `reference`. */
  handler(reference: string, handler: Handler): this;
  /** Binds `handler` to the endpoint `method path` (a template such as `/rooms/{room_id}`). */
  route(method: string, path: string, handler: Handler): this;
  /** Connects to the daemon and serves until stopped. Throws ConfigError (or exits 64) for bad settings. */
  listen(options?: ListenOptions): Server;
  /** Whether `value` is a Runtime, also one made by another copy of this package. */
  static isRuntime(value: unknown): value is Runtime;
}

/** A listening runtime. */
export declare class Server {
  private constructor();
  /** The settings in force. */
  readonly settings: ServerSettings;
  /** Settles with the exit status: 0 after `close()` or a signal, 1 after a fatal error. */
  readonly closed: Promise<number>;
  /** Resolves once a connection is registered; rejects if the runtime stops first. */
  ready(): Promise<void>;
  /** Finishes the requests in flight, says goodbye and stops; resolves with the exit status. */
  close(): Promise<number>;
}

export interface ReplyOptions {
  /** A 2xx status. Default 200. */
  status?: number;
  /** Response headers for the agent. */
  headers?: Record<string, string> | null;
  /** Extra fields for the daemon's attribution record. */
  attributionExtra?: Record<string, unknown> | null;
}

/** A reply with a status, headers or attribution extra besides the body. */
export declare class Reply<Body = unknown> {
  constructor(body: Body, options?: ReplyOptions);
  readonly body: Body | null;
  readonly status: number;
  readonly headers: Record<string, string> | null;
  readonly attributionExtra: Record<string, unknown> | null;
}

/** Throw to answer with one of the endpoint's declared errors (the agent gets 422). */
export declare class EndpointError extends Error {
  constructor(code: string, message?: string, details?: Record<string, unknown> | null);
  readonly code: string;
  readonly details?: Record<string, unknown>;
}

export type SigningErrorCode =
  | 'not_granted'
  | 'request_finished'
  | 'connection_closed'
  | 'signing_unavailable'
  | 'sign_failure'
  | (string & {});

/** Why `ctx.sign()` could not sign. */
export declare class SigningError extends Error {
  constructor(code: SigningErrorCode, message: string);
  readonly code: SigningErrorCode;
}

/** A setting that cannot be used. */
export declare class ConfigError extends Error {
  constructor(message: string);
}

/** How the daemon established the agent's identity. */
export interface Trust {
  verified: boolean;
  agentId: string;
  agentCertFingerprint: string | null;
  /** `agent_id_header` or `agent_cert_mtls`. */
  method: string | null;
}

/** The registered endpoint a request was routed to. */
export interface EndpointInfo {
  readonly method: string;
  /** The template, as in the endpoint file. */
  readonly path: string;
  readonly handlerReference: string;
  /** The declared error codes. */
  readonly errors: readonly string[];
}

export interface Signature {
  /** The daemon's key id. */
  kid: string;
  /** Always `Ed25519`. */
  alg: string;
  /** 64 bytes. */
  signature: Buffer;
}

/** Everything about a call besides its input. */
export declare class Context {
  private constructor();
  /** The agent-visible request id (the `Request-ID` the agent sent, or empty). */
  readonly requestId: string;
  /** The daemon's id for this request on the gateway. */
  readonly gatewayRequestId: string;
  readonly method: string;
  /** The path the agent called, without its query. */
  readonly path: string;
  /** Path parameters, by the names of the endpoint's template, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The endpoint; null only when the daemon sent a path no registered endpoint matches. */
  readonly endpoint: EndpointInfo | null;
  /** The calling agent; empty when anonymous. */
  readonly agentId: string;
  readonly principalId: string;
  readonly sessionId: string | null;
  readonly taskId: string | null;
  readonly agentScopes: readonly string[];
  readonly authorityScopes: readonly string[];
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether a verified client certificate matches `agentId`. */
  readonly agentVerified: boolean;
  /** Hex SHA-256 of that certificate. */
  readonly agentCertFingerprint: string | null;
  /** AGTP extensions of that certificate. */
  readonly agentCertExtensions: Readonly<Record<string, unknown>>;
  /** The `deadline_ms` the daemon sent, or null. */
  readonly deadlineMs: number | null;
  /** The request envelope as received, fields the SDK does not know included. */
  readonly envelope: Readonly<Record<string, unknown>>;
  readonly trust: Trust | null;
  /** Aborted at the deadline, when the daemon gives up on the request, or when its connection closes. */
  readonly signal: AbortSignal;
  /** The caller's valid W3C `traceparent`, or null. */
  readonly traceparent: string | null;
  /** The caller's `tracestate`, when its `traceparent` is valid. */
  readonly tracestate: string | null;
  /** Milliseconds until the deadline; never negative; Infinity without one. */
  timeLeft(): number;
  /** A `traceparent` for an outgoing call: same trace and flags, new span id (a new trace without one). */
  childTraceparent(): string;
  /** Has the daemon sign `data` with its Ed25519 key. Rejects with SigningError. */
  sign(data: string | Uint8Array): Promise<Signature>;
}
