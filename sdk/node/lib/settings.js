'use strict';

const { ConfigError } = require('./errors');
const { MAX_FRAME_BYTES } = require('./framing');

const DEFAULTS = {
  pool: 'default',
  connections: 2,
  maxInFlight: 64,
  encoding: 'auto',
  maxFrameBytes: MAX_FRAME_BYTES,
  keepaliveMs: 60_000,
};
// §6.1: `hello.max_in_flight` is 1 to 4096.
const MAX_IN_FLIGHT_LIMIT = 4096;
const MAX_CONNECTIONS = 1024;
const ENCODINGS = new Set(['auto', 'json', 'msgpack']);

// `--gateway-socket PATH` (or `--gateway-socket=PATH`) out of `argv`; anything else there is a
// usage error. `extra` names further flags with a value that the caller handles itself.
function parseArgs(argv, extra = []) {
  const flags = new Set(['--gateway-socket', ...extra]);
  const found = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!flags.has(name)) throw new ConfigError(`unknown argument \`${arg}\``);
    let value;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new ConfigError(`\`${name}\` needs a value`);
    if (value === '') throw new ConfigError(`\`${name}\` needs a value`);
    found[name] = value;
  }
  return found;
}

function integerSetting(name, text, min, max) {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not \`${text}\``);
  }
  return Number(text);
}

function checkedInteger(name, value, min, max) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`\`${name}\` must be an integer from ${min} to ${max}, not ${value}`);
  }
  return value;
}

// The settings of `listen()`: each comes from `options` when given there, else from the
// command line (`--gateway-socket`) or the environment (AGTP_*), else its default.
function resolveSettings(options = {}, argv = process.argv.slice(2), env = process.env) {
  const args = parseArgs(options.argv ?? argv);
  const vars = options.env ?? env;
  const pick = (key, variable, parse) => {
    if (options[key] !== undefined) return options[key];
    const text = vars[variable];
    return text === undefined || text === '' ? DEFAULTS[key] : parse(text);
  };
  const socket = options.socket ?? args['--gateway-socket'] ?? vars.AGTP_GATEWAY_SOCKET;
  if (typeof socket !== 'string' || socket === '') {
    throw new ConfigError('no gateway socket: set AGTP_GATEWAY_SOCKET or pass --gateway-socket PATH');
  }
  const settings = {
    socket,
    pool: pick('pool', 'AGTP_POOL', (text) => text),
    connections: pick('connections', 'AGTP_CONNECTIONS', (t) => integerSetting('AGTP_CONNECTIONS', t, 1, MAX_CONNECTIONS)),
    maxInFlight: pick('maxInFlight', 'AGTP_MAX_IN_FLIGHT', (t) =>
      integerSetting('AGTP_MAX_IN_FLIGHT', t, 0, MAX_IN_FLIGHT_LIMIT),
    ),
    encoding: pick('encoding', 'AGTP_ENCODING', (text) => text),
    maxFrameBytes: options.maxFrameBytes ?? DEFAULTS.maxFrameBytes,
    keepaliveMs: options.keepaliveMs ?? DEFAULTS.keepaliveMs,
  };
  if (typeof settings.pool !== 'string' || settings.pool === '') throw new ConfigError('the pool must be a non-empty string');
  checkedInteger('connections', settings.connections, 1, MAX_CONNECTIONS);
  checkedInteger('maxInFlight', settings.maxInFlight, 0, MAX_IN_FLIGHT_LIMIT);
  checkedInteger('maxFrameBytes', settings.maxFrameBytes, 1024, 2 ** 32 - 1);
  checkedInteger('keepaliveMs', settings.keepaliveMs, 1, 2 ** 31 - 1);
  if (!ENCODINGS.has(settings.encoding)) {
    throw new ConfigError(`the encoding must be auto, json or msgpack, not \`${settings.encoding}\``);
  }
  return settings;
}

module.exports = { resolveSettings, parseArgs };
