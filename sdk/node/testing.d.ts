// Type declarations for `agtp-runtime/testing`, written by hand to match lib/testing.js.
/// <reference types="node" />

import type { KeyObject } from 'node:crypto';
import type { Runtime, Server } from './index';

/** An endpoint the test daemon registers. */
export interface TestEndpoint {
  method: string;
  /** A template such as `/rooms/{room_id}`. */
  path: string;
  /** Default: a reference no handler has, so the endpoint binds by its route. */
  handlerReference?: string;
  /** The declared error codes. */
  errors?: string[];
  requiredScopes?: string[];
  /** Sent in the registration as is; the test daemon validates nothing. */
  inputSchema?: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
}

export interface TestDaemonOptions {
  endpoints: TestEndpoint[];
  pool?: string;
  /** Connections the runtime opens. Default 1. */
  connections?: number;
  /** Grant `multiplex`: `true` for what the runtime asks, a number to cap it. Default false, as agtpd today. */
  multiplex?: boolean | number;
  /** Grant `sign_request` and sign with a fresh Ed25519 key (see `publicKey`). Default false. */
  signing?: boolean;
  /** The deadline of each call, in ms. Default 30000. */
  deadlineMs?: number;
  /** The runtime's `maxInFlight`. Default 64. */
  maxInFlight?: number;
  /** The runtime's encoding. Default `auto`. */
  encoding?: 'auto' | 'json' | 'msgpack';
  /** The runtime's keepalive interval, in ms. */
  keepaliveMs?: number;
}

export interface CallOptions {
  /** Request headers; names are lower-cased. */
  headers?: Record<string, string>;
  /** Default `"test-agent"`; empty for an anonymous call. */
  agentId?: string;
  principalId?: string;
  agentScopes?: string[];
  authorityScopes?: string[];
  sessionId?: string | null;
  taskId?: string | null;
  /** The agent-visible request id. */
  requestId?: string;
  agentVerified?: boolean;
  agentCertFingerprint?: string | null;
  agentCertExtensions?: Record<string, unknown>;
  /** The request's `trust` map, in the protocol's snake_case. Default: from `agentId`. */
  trust?: Record<string, unknown>;
  deadlineMs?: number;
}

export interface TestError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** What the agent would get. */
export interface TestResponse {
  status: number;
  headers: Record<string, string>;
  /** The reply body, or the agent-facing error body `{ error: { code, message, ... } }`. */
  body: any;
  /** The declared error (422) or the daemon's problem (`handler-exception`, `handler-timeout`, ...); null for a reply. */
  error: TestError | null;
  attributionExtra: Record<string, unknown> | null;
  /** For a handler failure: the `error` frame's code, message and details, which agtpd only logs. */
  exception?: { code: string; message: string; details: Record<string, unknown> | null };
  /** For `undeclared-error-code`: the error the handler answered. */
  undeclared?: TestError;
}

/** A daemon in the test's process that the runtime connects to through `listen()`. */
export declare class TestDaemon {
  private constructor();
  /** Starts the daemon and the runtime; resolves once every connection is registered. Rejects when the runtime refuses the registration (the error's `errors` lists why). */
  static start(runtime: Runtime, options: TestDaemonOptions): Promise<TestDaemon>;
  /** Every `hello` the runtime sent, in order. */
  readonly hellos: Array<Record<string, any>>;
  readonly socketPath: string;
  readonly manifestHash: string;
  /** Verifies `ctx.sign()` signatures, with `signing: true`. */
  readonly publicKey: KeyObject | null;
  /** The runtime's Server. */
  readonly server: Server;
  /** Registered connections open now. */
  readonly connections: number;
  /** Calls `method path` (with an optional `?query`) as an agent would. */
  call(method: string, path: string, input?: Record<string, unknown>, options?: CallOptions): Promise<TestResponse>;
  /** Pings every connection; resolves with the slowest round trip in ms. */
  ping(): Promise<number>;
  /** Stops the runtime (it drains and says goodbye) and the daemon; resolves with the exit status. */
  close(): Promise<number | null>;
}
