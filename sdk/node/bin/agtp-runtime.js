#!/usr/bin/env node
// agtp-runtime --handlers FILE [--gateway-socket PATH]
//
// Serves the handlers of FILE: a module (CommonJS or ES) whose export, or default export, is
// either a Runtime or an object mapping handler references to functions.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { Runtime, ConfigError } = require('../lib/index.js');
const { parseArgs } = require('../lib/settings.js');
const { EXIT_USAGE } = require('../lib/runtime.js');

const USAGE = 'usage: agtp-runtime --handlers FILE [--gateway-socket PATH]';

function usage(message) {
  process.stderr.write(`agtp-runtime: ${message}\n${USAGE}\n`);
  process.exit(EXIT_USAGE);
}

async function load(file) {
  if (!fs.existsSync(file)) usage(`no such file: ${file}`);
  const loaded = await import(pathToFileURL(path.resolve(file)).href);
  const service = loaded.default ?? loaded;
  if (Runtime.isRuntime(service)) return service;
  const entries = Object.entries(service).filter(([, value]) => typeof value === 'function');
  if (service === null || typeof service !== 'object' || entries.length === 0) {
    usage(`${file} exports neither a Runtime nor an object of handler functions`);
  }
  return new Runtime({ name: path.basename(file, path.extname(file)), handlers: Object.fromEntries(entries) });
}

async function main(argv) {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let args;
  try {
    args = parseArgs(argv, ['--handlers']);
  } catch (error) {
    if (error instanceof ConfigError) usage(error.message);
    throw error;
  }
  if (args['--handlers'] === undefined) usage('--handlers FILE is required');
  const runtime = await load(args['--handlers']);
  const forwarded = args['--gateway-socket'] === undefined ? [] : ['--gateway-socket', args['--gateway-socket']];
  runtime.listen({ argv: forwarded });
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`agtp-runtime: ${error?.stack ?? error}\n`);
  process.exit(1);
});
