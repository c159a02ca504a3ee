// Compiled with `tsc --noEmit --strict` by package.test.js: every public name used the way
// the README shows, so a declaration that drifts from the API fails to compile.
import { Runtime, Reply, EndpointError, SigningError, ConfigError, Context, Server, PROTOCOL_VERSION } from 'agtp-runtime';
import type { Handler, HandlerMap, ListenOptions, Logger, Signature, Trust, EndpointInfo, ServerSettings } from 'agtp-runtime';
import { TestDaemon } from 'agtp-runtime/testing';
import type { TestResponse, TestDaemonOptions, CallOptions, TestEndpoint, TestError } from 'agtp-runtime/testing';

const logger: Logger = console;
const handlers: HandlerMap = { 'svc.ping': () => ({ pong: true }) };
const app: Runtime = new Runtime({ name: 'svc', version: '1.0.0', handlers, logger });

const book: Handler<{ room_id: string }> = async (input, ctx: Context) => {
  const left: number = ctx.timeLeft();
  const signal: AbortSignal = ctx.signal;
  const trust: Trust | null = ctx.trust;
  const endpoint: EndpointInfo | null = ctx.endpoint;
  const child: string = ctx.childTraceparent();
  const parent: string | null = ctx.traceparent;
  const state: string | null = ctx.tracestate;
  const ids: string[] = [ctx.requestId, ctx.gatewayRequestId, ctx.agentId, ctx.principalId, ctx.method, ctx.path];
  const optional: Array<string | null> = [ctx.sessionId, ctx.taskId, ctx.agentCertFingerprint];
  const scopes: readonly string[] = [...ctx.agentScopes, ...ctx.authorityScopes];
  const verified: boolean = ctx.agentVerified;
  const extensions: Readonly<Record<string, unknown>> = ctx.agentCertExtensions;
  const deadline: number | null = ctx.deadlineMs;
  const header: string | undefined = ctx.headers['x-trace'];
  const room: string | undefined = ctx.params.room_id;
  const raw: Readonly<Record<string, unknown>> = ctx.envelope;
  const signed: Signature = await ctx.sign(input.room_id);
  const bytes: Buffer = signed.signature;
  if (signal.aborted) throw new EndpointError('room_unavailable', 'too late', { left });
  void [trust, endpoint, child, parent, state, ids, optional, scopes, verified, extensions, deadline, header, room, raw, bytes];
  return new Reply({ booked: input.room_id }, { status: 201, headers: { location: '/x' }, attributionExtra: { k: 1 } });
};
app.handler('svc.book', book).route('BOOK', '/rooms/{room_id}', book);

const options: ListenOptions = { socket: '/tmp/x.sock', connections: 2, maxInFlight: 64, encoding: 'json', signals: false, exit: false };
const server: Server = app.listen(options);
const settings: ServerSettings = server.settings;
const closed: Promise<number> = server.close();
void [settings, closed, server.ready(), PROTOCOL_VERSION, Runtime.isRuntime(app)];

const errors: Error[] = [new SigningError('not_granted', 'no key'), new ConfigError('bad'), new EndpointError('x')];
const code: string = (errors[0] as SigningError).code;
void code;

async function unitTest(): Promise<void> {
  const endpoint: TestEndpoint = { method: 'BOOK', path: '/rooms/{room_id}', handlerReference: 'svc.book', errors: ['room_unavailable'] };
  const daemonOptions: TestDaemonOptions = { endpoints: [endpoint], multiplex: 8, signing: true, deadlineMs: 1000 };
  const daemon: TestDaemon = await TestDaemon.start(app, daemonOptions);
  const callOptions: CallOptions = { headers: { traceparent: 'x' }, agentId: 'a', deadlineMs: 500 };
  const response: TestResponse = await daemon.call('BOOK', '/rooms/101', { guest: 'Ada' }, callOptions);
  const error: TestError | null = response.error;
  const status: number = response.status;
  const rtt: number = await daemon.ping();
  void [error, status, rtt, daemon.hellos, daemon.manifestHash, daemon.publicKey, daemon.server, daemon.connections, daemon.socketPath];
  const exit: number | null = await daemon.close();
  void exit;
}
void unitTest;
